//! The quality goal as a regression test: on benchmark scenes, actinf at a
//! quarter of uniform's tokens keeps the query targets at least 3 dB better
//! than uniform allocation does.

use actinf_relevance::pipeline::FrontEndSettings;
use actinf_relevance::quality::{compare, synthetic_scene};

#[test]
fn a_quarter_of_the_tokens_beats_uniform_on_the_targets_by_3_db() {
    let settings = FrontEndSettings::default();
    let n = 1024u64;
    let (mut actinf, mut uniform) = (0.0, 0.0);
    for seed in 0..2 {
        let scene = synthetic_scene(seed, 768, 3, 9).unwrap();
        let full = compare(&scene, &settings, 100 * n, seed).unwrap();
        let quarter = compare(&scene, &settings, 25 * n, seed).unwrap();
        assert_eq!(full[1].method, "uniform");
        assert_eq!(quarter[0].method, "actinf");
        assert_eq!(quarter[0].tokens, 25 * n);
        assert!(quarter[0].target_share > 5.0 * full[1].target_share);
        actinf += quarter[0].target_psnr / 2.0;
        uniform += full[1].target_psnr / 2.0;
    }
    println!(
        "target PSNR: actinf at 25/patch {actinf:.2} dB, uniform at 100/patch {uniform:.2} dB"
    );
    assert!(actinf >= uniform + 3.0, "{actinf} vs {uniform}");
}
