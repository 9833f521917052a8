//! The faithful texture array against torch + kornia (fixtures made by
//! scripts/relevance_fixtures.py).

use actinf_relevance::image::RgbImage;
use actinf_relevance::scorers::information_faithful;
use actinf_relevance::texture::{faithful, CHANNELS};
use serde_json::Value;

fn fixture() -> Value {
    let text = include_str!("fixtures/texture_faithful.json");
    serde_json::from_str(text).unwrap()
}

fn flat(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(flat).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        _ => panic!("unexpected {v}"),
    }
}

fn image(case: &Value) -> RgbImage {
    let w = case["width"].as_u64().unwrap() as usize;
    let h = case["height"].as_u64().unwrap() as usize;
    let px: Vec<u8> = flat(&case["pixels"]).into_iter().map(|v| v as u8).collect();
    RgbImage::new(w, h, px).unwrap()
}

fn max_gap(a: &[f64], b: &[f32]) -> (f64, usize) {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .enumerate()
        .map(|(i, (x, y))| ((x - *y as f64).abs(), i))
        .fold((0.0, 0), |m, g| if g.0 > m.0 { g } else { m })
}

#[test]
fn faithful_texture_matches_torch_and_kornia() {
    for case in fixture()["cases"].as_array().unwrap() {
        let grid = case["grid"].as_u64().unwrap() as usize;
        let tex = faithful(&image(case), grid).unwrap();
        let want = flat(&case["texture"]);
        assert_eq!(want.len(), CHANNELS * grid * grid);
        let (gap, at) = max_gap(&want, tex.data());
        let n = grid * grid;
        println!(
            "{} grid {grid}: max |texture gap| {gap:.3e} (channel {}, patch {})",
            case["dtype"],
            at / n,
            at % n
        );
        assert!(
            gap <= 1e-5,
            "texture gap {gap} at channel {} patch {}",
            at / n,
            at % n
        );

        let info = information_faithful(&tex);
        let want = flat(&case["information"]);
        let info32: Vec<f32> = info.iter().map(|&v| v as f32).collect();
        let (gap, at) = max_gap(&want, &info32);
        println!(
            "{} grid {grid}: max |information gap| {gap:.3e} (patch {at})",
            case["dtype"]
        );
        assert!(gap <= 1e-5, "information gap {gap} at patch {at}");
    }
}
