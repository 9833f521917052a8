//! Speed of the front end: 512×512 on one core and a 3840×2160 frame on two
//! (goals: ≤ 2 ms and ≤ 8 ms). Parts are timed separately too.

use actinf_relevance::allocation::{allocate, Budget, Precision};
use actinf_relevance::image::RgbImage;
use actinf_relevance::pipeline::{FrontEnd, FrontEndSettings, Query};
use actinf_relevance::quality::{synthetic_scene, SplitMix64};
use actinf_relevance::scorers::Exemplar;
use actinf_relevance::texture::{faithful, TextureMode};
use criterion::{criterion_group, criterion_main, Criterion};

/// A 3840×2160 frame: smooth colour fields, noise and a few bars.
fn frame_4k() -> RgbImage {
    let (w, h) = (3840, 2160);
    let mut rng = SplitMix64::new(7);
    let mut px = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let bar = (x / 97 + y / 61) % 9 == 0;
            let n = (rng.next_u64() & 15) as usize;
            let r = if bar {
                230
            } else {
                (x * 200 / w + n) as u8 as usize
            };
            px.extend_from_slice(&[r as u8, ((y * 180 / h) + n) as u8, ((x + y) % 200) as u8]);
        }
    }
    RgbImage::new(w, h, px).unwrap()
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let scene = synthetic_scene(0, 512, 3, 9).unwrap();
    let settings = FrontEndSettings::default();
    let exemplar = |w, h| Exemplar::new(&scene.exemplar, w, h, 32, TextureMode::Default).unwrap();
    let one = pool(1);
    let two = pool(2);

    let mut front = FrontEnd::new(settings.clone()).unwrap();
    let query = Query::Exemplar(exemplar(512, 512));
    c.bench_function("pipeline 512x512, exemplar query, 1 core", |b| {
        one.install(|| {
            b.iter(|| {
                front
                    .run(&scene.image, &query, Budget::Total(25_600))
                    .unwrap()
            })
        })
    });
    // External embeddings (64-wide, from any encoder): the query costs one
    // cosine per patch.
    let mut rng = SplitMix64::new(7);
    let embeddings = Query::Embeddings {
        patches: (0..1024 * 64).map(|_| rng.unit() - 0.5).collect(),
        query: (0..64).map(|_| rng.unit() - 0.5).collect(),
    };
    c.bench_function("pipeline 512x512, embedding query, 1 core", |b| {
        one.install(|| {
            b.iter(|| {
                front
                    .run(&scene.image, &embeddings, Budget::Total(25_600))
                    .unwrap()
            })
        })
    });
    c.bench_function("texture 512x512 (default), 1 core", |b| {
        one.install(|| b.iter(|| front.texture(&scene.image).unwrap()))
    });
    let (_, scorers) = front.scorers(&scene.image, &query).unwrap();
    let (working, side) = {
        let (w, s) = front.texture_pipeline().working_image();
        (w.to_vec(), s)
    };
    let colours = exemplar(512, 512);
    c.bench_function("exemplar backprojection 512x512, 1 core", |b| {
        b.iter(|| colours.backprojection(&working, side, 32).unwrap())
    });
    c.bench_function("allocation 1024 patches, 3 scorers, set precisions", |b| {
        b.iter(|| allocate(&scorers, Budget::Total(25_600), &settings.allocation).unwrap())
    });
    let inferred: Vec<_> = scorers
        .iter()
        .cloned()
        .map(|mut s| {
            if let Precision::Fixed(p) = s.precision {
                s.precision = Precision::Inferred {
                    shape: 2.0,
                    rate: 2.0 / p,
                };
            }
            s
        })
        .collect();
    c.bench_function(
        "allocation 1024 patches, 3 scorers, inferred precisions",
        |b| b.iter(|| allocate(&inferred, Budget::Total(25_600), &settings.allocation).unwrap()),
    );
    c.bench_function("texture 512x512 (faithful)", |b| {
        b.iter(|| faithful(&scene.image, 32).unwrap())
    });

    let frame = frame_4k();
    let query = Query::Exemplar(exemplar(3840, 2160));
    c.bench_function("pipeline 3840x2160, exemplar query, 2 cores", |b| {
        two.install(|| b.iter(|| front.run(&frame, &query, Budget::Total(25_600)).unwrap()))
    });
    c.bench_function("pipeline 3840x2160, exemplar query, 1 core", |b| {
        one.install(|| b.iter(|| front.run(&frame, &query, Budget::Total(25_600)).unwrap()))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);
