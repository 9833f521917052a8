//! Print the quality table: `cargo run --release -p actinf-relevance --example quality [SCENES]`.

use actinf_relevance::pipeline::FrontEndSettings;
use actinf_relevance::quality::benchmark;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let scenes = std::env::args().nth(1).map_or(Ok(8), |s| s.parse())?;
    let rows = benchmark(&FrontEndSettings::default(), scenes, &[64, 100, 196])?;
    println!(
        "{:>8} {:<16} {:>8} {:>13} {:>12} {:>11}",
        "budget", "method", "tokens", "target share", "target PSNR", "image PSNR"
    );
    for r in rows {
        let m = r.result;
        println!(
            "{:>8} {:<16} {:>8} {:>12.1}% {:>9.2} dB {:>8.2} dB",
            r.budget,
            m.method,
            m.tokens,
            100.0 * m.target_share,
            m.target_psnr,
            m.image_psnr
        );
    }
    Ok(())
}
