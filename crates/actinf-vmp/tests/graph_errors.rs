//! Graph-level refusals: chains with the wrong plates or observed directly.

use actinf_vmp::nodes::CategoricalChain;
use actinf_vmp::{Graph, NodeSpec, Parent, VmpError};

fn chain(plates: &[usize], observed: Option<Vec<f64>>) -> Result<Graph, VmpError> {
    let mut spec = NodeSpec::new(
        "z",
        CategoricalChain::new(2),
        vec![
            Parent::value([0.5, 0.5]),
            Parent::Constant {
                values: vec![0.9, 0.1, 0.2, 0.8],
                plates: vec![2],
            },
        ],
    )
    .plates(plates);
    if let Some(v) = observed {
        spec = spec.observe(v);
    }
    Graph::new(vec![spec])
}

#[test]
fn chains_need_one_time_axis_and_cannot_be_observed() {
    assert!(chain(&[5], None).is_ok());
    let err = chain(&[2, 3], None).unwrap_err().to_string();
    assert!(
        err.contains("z.plates") && err.contains("one axis"),
        "{err}"
    );
    let err = chain(&[3], Some(vec![0.0, 1.0, 1.0]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot be observed"), "{err}");
}
