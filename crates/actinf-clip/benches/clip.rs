//! Text and dense patch embeddings on the tiny test model (width 32, two
//! layers): the cost of the code around the matrix products, not of a real
//! CLIP.

use std::path::Path;

use actinf_clip::ClipModel;
use actinf_relevance::image::RgbImage;
use criterion::{criterion_group, criterion_main, Criterion};

fn benches(c: &mut Criterion) {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let model = ClipModel::load(&fixtures.join("tiny-clip")).expect("tiny model");
    let bytes = std::fs::read(fixtures.join("tiny_clip_image.png")).expect("test image");
    let image = RgbImage::decode(&bytes, "tiny_clip_image.png").expect("decodes");
    c.bench_function("tiny text embedding", |b| {
        b.iter(|| model.text_embedding("a red striped disc").unwrap())
    });
    c.bench_function("tiny patch embeddings, grid 32", |b| {
        b.iter(|| model.patch_embeddings(&image, 32).unwrap())
    });
}

criterion_group!(clip, benches);
criterion_main!(clip);
