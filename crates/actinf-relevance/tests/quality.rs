//! The quality goal as a regression test: on benchmark scenes, actinf at a
//! quarter of uniform's tokens keeps the query targets at least 3 dB better
//! than uniform allocation does — on synthetic backgrounds and on
//! scikit-image's photographs.

use actinf_relevance::pipeline::FrontEndSettings;
use actinf_relevance::quality::{compare, photo_scene, sample_photos, synthetic_scene, Scene};

/// Mean target PSNR of actinf at a quarter of `per_patch`·N tokens and of
/// uniform allocation at `per_patch`·N, over `scenes`.
fn quarter_vs_uniform(scenes: &[(u64, Scene)], per_patch: u64) -> (f64, f64) {
    let settings = FrontEndSettings::default();
    let n = 1024u64;
    let (mut actinf, mut uniform) = (0.0, 0.0);
    let count = scenes.len() as f64;
    for (seed, scene) in scenes {
        let full = compare(scene, &settings, per_patch * n, *seed).unwrap();
        let quarter = compare(scene, &settings, per_patch * n / 4, *seed).unwrap();
        assert_eq!(full[1].method, "uniform");
        assert_eq!(quarter[0].method, "actinf");
        assert_eq!(quarter[0].tokens, per_patch * n / 4);
        assert!(quarter[0].target_share > 5.0 * full[1].target_share);
        actinf += quarter[0].target_psnr / count;
        uniform += full[1].target_psnr / count;
    }
    (actinf, uniform)
}

#[test]
fn a_quarter_of_the_tokens_beats_uniform_on_synthetic_targets_by_3_db() {
    let scenes: Vec<(u64, Scene)> = (0..2)
        .map(|seed| (seed, synthetic_scene(seed, 768, 3, 9).unwrap()))
        .collect();
    let (actinf, uniform) = quarter_vs_uniform(&scenes, 100);
    println!("synthetic, target PSNR: actinf at 25/patch {actinf:.2} dB, uniform at 100/patch {uniform:.2} dB");
    assert!(actinf >= uniform + 3.0, "{actinf} vs {uniform}");
}

#[test]
fn a_quarter_of_the_tokens_beats_uniform_on_photo_targets_by_3_db() {
    let scenes: Vec<(u64, Scene)> = sample_photos()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(j, photo)| {
            let seed = 1000 + j as u64;
            (seed, photo_scene(seed, photo, 768, 3, 9).unwrap())
        })
        .collect();
    for per_patch in [64, 100] {
        let (actinf, uniform) = quarter_vs_uniform(&scenes, per_patch);
        println!(
            "photos, target PSNR: actinf at {}/patch {actinf:.2} dB, uniform at {per_patch}/patch {uniform:.2} dB",
            per_patch / 4
        );
        assert!(
            actinf >= uniform + 3.0,
            "{per_patch}: {actinf} vs {uniform}"
        );
    }
}
