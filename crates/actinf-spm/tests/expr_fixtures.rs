//! Every `f` and `g` of SPM's demos, as the SPM12 fixtures give them: they
//! compile, evaluate to what SPM computed, and their exact derivatives agree
//! with central finite differences.

mod expr_support;

use actinf_spm::expr::{
    CompiledExpr, ExprError, LevelFunctions, Param, ParamLayout, Signature, Workspace,
};
use expr_support::{check_derivatives, fixtures_dir, read_fixture};
use nalgebra::{DMatrix, DVector};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// SPM's convolution demo (`DEM_demo_convolution`) parameters.
fn convolution_pe() -> Param {
    Param::structure(vec![
        (
            "f".into(),
            Param::from_rows(&[vec![-0.25, 1.0], vec![-0.5, -0.25]]).unwrap(),
        ),
        (
            "g".into(),
            Param::from_rows(&[
                vec![0.125, 0.16332037060954707],
                vec![0.125, 0.06764951251827464],
                vec![0.125, -0.06764951251827463],
                vec![0.125, -0.16332037060954707],
            ])
            .unwrap(),
        ),
        ("h".into(), Param::column(vec![1.0, 0.0])),
    ])
    .unwrap()
}

const LAP_F: &str =
    "[P(1,:).*x(1,:)+P(3,:).*x(2,:)+P(13,:).*v(:,:);P(2,:).*x(1,:)+P(4,:).*x(2,:)+P(14,:).*v(:,:);]";
const LAP_G: &str = "[P(5,:).*x(1,:)+P(9,:).*x(2,:);P(6,:).*x(1,:)+P(10,:).*x(2,:);P(7,:).*x(1,:)+P(11,:).*x(2,:);P(8,:).*x(1,:)+P(12,:).*x(2,:);]";
const LORENZ_F: &str = "[-P(1) P(1) 0; (P(3)-x(3)) -1 -x(1); x(2) x(1) P(2)]*x/32;";

fn column(data: &[f64]) -> DVector<f64> {
    DVector::from_column_slice(data)
}

#[test]
fn convolution_f_and_g_evaluate_as_matrices() {
    let pe = convolution_pe();
    let sig = Signature::columns(2, 1, pe.layout());
    let f = CompiledExpr::compile("P.f*x + P.h*v", &sig).unwrap();
    let g = CompiledExpr::compile("P.g*x", &sig).unwrap();
    assert_eq!(f.output_shape(), (2, 1));
    assert_eq!(g.output_shape(), (4, 1));
    let (x, v) = ([0.3, -1.2], [0.7]);
    let p = pe.spm_vec();
    let mut ws = Workspace::new();
    let fx = f.value(&x, &v, &p, &mut ws).unwrap();
    let want_f = column(&[-0.25 * 0.3 + 1.0 * -1.2 + 0.7, -0.5 * 0.3 - 0.25 * -1.2]);
    assert!((fx - want_f).amax() < 1e-15);
    let gx = g.value(&x, &v, &p, &mut ws).unwrap();
    let gm = DMatrix::from_row_slice(
        4,
        2,
        &[
            0.125,
            0.16332037060954707,
            0.125,
            0.06764951251827464,
            0.125,
            -0.06764951251827463,
            0.125,
            -0.16332037060954707,
        ],
    );
    assert!((gx - gm * column(&x)).amax() < 1e-15);
}

#[test]
fn lap_demo_element_form_equals_the_matrix_form() {
    // the LAP demo writes the same model element by element over a plain
    // 14-vector P laid out as spm_vec of the structure above
    let pe = convolution_pe();
    let p = pe.spm_vec();
    let structured = Signature::columns(2, 1, pe.layout());
    let plain = Signature::columns(2, 1, Param::column(p.clone()).layout());
    let pairs = [("P.f*x + P.h*v", LAP_F), ("P.g*x", LAP_G)];
    let mut rng = StdRng::seed_from_u64(7);
    let mut ws = Workspace::new();
    for (matrix_form, element_form) in pairs {
        let a = CompiledExpr::compile(matrix_form, &structured).unwrap();
        let b = CompiledExpr::compile(element_form, &plain).unwrap();
        for _ in 0..5 {
            let x: Vec<f64> = (0..2).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect();
            let v = [rng.random::<f64>()];
            let q: Vec<f64> = p.iter().map(|pi| pi + rng.random::<f64>() * 0.1).collect();
            let mut da = actinf_spm::expr::Derivatives::new();
            let mut db = actinf_spm::expr::Derivatives::new();
            let order = actinf_spm::expr::Order::MixedSecond;
            a.evaluate(&x, &v, &q, None, order, &mut ws, &mut da)
                .unwrap();
            b.evaluate(&x, &v, &q, None, order, &mut ws, &mut db)
                .unwrap();
            assert!((&da.value - &db.value).amax() < 1e-15);
            assert_eq!(da.dx, db.dx);
            assert_eq!(da.dv, db.dv);
            assert_eq!(da.dp, db.dp);
            assert_eq!(da.dxp, db.dxp);
            assert_eq!(da.dvp, db.dvp);
        }
    }
}

#[test]
fn lorenz_flow_by_hand() {
    let pe = Param::column(vec![18.0, -4.0, 46.92]);
    let sig = Signature::columns(3, 1, pe.layout());
    let f = CompiledExpr::compile(LORENZ_F, &sig).unwrap();
    let g = CompiledExpr::compile("sum(x)", &sig).unwrap();
    let x = [0.9, 0.8, 30.0];
    let p = pe.spm_vec();
    let mut ws = Workspace::new();
    let got = f.value(&x, &[0.0], &p, &mut ws).unwrap();
    // [-P1 P1 0; (P3-x3) -1 -x1; x2 x1 P2] * x / 32
    let want = [
        (-18.0 * 0.9 + 18.0 * 0.8) / 32.0,
        ((46.92 - 30.0) * 0.9 - 0.8 - 0.9 * 30.0) / 32.0,
        (0.8 * 0.9 + 0.9 * 0.8 - 4.0 * 30.0) / 32.0,
    ];
    for (a, b) in got.iter().zip(want) {
        assert!((a - b).abs() < 1e-14, "{got} vs {want:?}");
    }
    assert_eq!(g.value(&x, &[0.0], &p, &mut ws).unwrap()[0], 31.7);
    check_derivatives(&f, &x, &[0.0], &p, 1e-7);
    check_derivatives(&g, &x, &[0.0], &p, 1e-7);
}

#[test]
fn top_level_no_states_and_no_output() {
    let sig = Signature::columns(0, 0, ParamLayout::empty());
    let f = CompiledExpr::compile("sparse(0,1)", &sig).unwrap();
    assert!(!f.is_empty());
    assert_eq!(f.output_shape(), (0, 1));
    let mut ws = Workspace::new();
    assert_eq!(f.value(&[], &[], &[], &mut ws).unwrap().len(), 0);
    let g = CompiledExpr::compile("", &sig).unwrap();
    assert!(g.is_empty());
    assert_eq!(g.output_len(), 0);
    let mut d = actinf_spm::expr::Derivatives::new();
    g.evaluate(
        &[],
        &[],
        &[],
        None,
        actinf_spm::expr::Order::MixedSecond,
        &mut ws,
        &mut d,
    )
    .unwrap();
    assert_eq!(d.value.len(), 0);
}

#[test]
fn embedded_demo_expressions_have_exact_derivatives() {
    let pe = convolution_pe();
    let p = pe.spm_vec();
    let structured = Signature::columns(2, 1, pe.layout());
    let plain = Signature::columns(2, 1, Param::column(p.clone()).layout());
    let mut rng = StdRng::seed_from_u64(11);
    for (text, sig) in [
        ("P.f*x + P.h*v", &structured),
        ("P.g*x", &structured),
        (LAP_F, &plain),
        (LAP_G, &plain),
    ] {
        let expr = CompiledExpr::compile(text, sig).unwrap();
        let x: Vec<f64> = (0..2).map(|_| rng.random::<f64>() * 4.0 - 2.0).collect();
        check_derivatives(&expr, &x, &[rng.random::<f64>()], &p, 1e-7);
    }
}

/// Every level of every run in the DEM fixture files.
#[test]
fn every_fixture_level_compiles_evaluates_and_differentiates() {
    let Some(dir) = fixtures_dir() else { return };
    let mut rng = StdRng::seed_from_u64(3);
    let mut checked = 0;
    for file in [
        "dem_convolution.json",
        "dem_convolution_LAP.json",
        "dem_lorenz.json",
    ] {
        let doc = read_fixture(&dir, file);
        for run in doc.get("runs").list() {
            let label = format!("{file} {}", run.get("label").str());
            let levels = run.get("model").get("levels").list();
            for (i, level) in levels.iter().enumerate() {
                let pe = level.get("pE").param();
                assert_eq!(
                    pe.spm_vec(),
                    level.get("pE_vec").numbers(),
                    "{label}: spm_vec(pE)"
                );
                let n = level.get("n").num() as usize;
                let m = level.get("m").num() as usize;
                let l = level.get("l").num() as usize;
                let sig = Signature::columns(n, m, pe.layout());
                let f = CompiledExpr::compile(level.get("f").str(), &sig)
                    .unwrap_or_else(|e| panic!("{label} level {}: f: {e}", i + 1));
                let g = CompiledExpr::compile(level.get("g").str(), &sig)
                    .unwrap_or_else(|e| panic!("{label} level {}: g: {e}", i + 1));
                assert_eq!(f.output_len(), n, "{label}: f has one output per state");
                let x0 = level.get("x0").numbers();
                assert_eq!(x0.len(), n);
                let p = pe.spm_vec();
                if i + 1 == levels.len() {
                    // the top level: no states, causes given, no output
                    assert!(g.is_empty(), "{label}: top level g");
                    continue;
                }
                assert_eq!(g.output_len(), l, "{label}: g has l outputs");
                // spm_DEM_M_set sets M(i).v = g(x0, v0 of the level above, pE)
                let v_above = levels[i + 1].get("v0").numbers();
                let mut ws = Workspace::new();
                let g0 = g.value(&x0, &v_above, &p, &mut ws).unwrap();
                assert_eq!(
                    g0.as_slice(),
                    level.get("v0").numbers().as_slice(),
                    "{label}: M(i).v"
                );

                check_derivatives(&f, &x0, &v_above, &p, 1e-7);
                check_derivatives(&g, &x0, &v_above, &p, 1e-7);
                for _ in 0..3 {
                    let x: Vec<f64> = x0
                        .iter()
                        .map(|xi| xi + rng.random::<f64>() * 2.0 - 1.0)
                        .collect();
                    let v: Vec<f64> = (0..m).map(|_| rng.random::<f64>() * 2.0 - 1.0).collect();
                    check_derivatives(&f, &x, &v, &p, 1e-7);
                    check_derivatives(&g, &x, &v, &p, 1e-7);
                }

                // SPM's own predictions: where the parameters were not
                // learned, qU.v{1}(:,t) = g(qU.x{1}(:,t), qU.v{2}(:,t), pE)
                let learned = run.get("qP").get("P").param().spm_vec();
                if i == 0 && learned == p {
                    let xs = run.get("qU").get("x1").rows();
                    let vs = run.get("qU").get("v2").rows();
                    let ys = run.get("qU").get("v1_predicted_response").rows();
                    for t in 0..xs[0].len() {
                        let x: Vec<f64> = xs.iter().map(|r| r[t]).collect();
                        let v: Vec<f64> = vs.iter().map(|r| r[t]).collect();
                        let y: Vec<f64> = ys.iter().map(|r| r[t]).collect();
                        let got = g.value(&x, &v, &p, &mut ws).unwrap();
                        let scale = y.iter().fold(1e-300_f64, |a, b| a.max(b.abs()));
                        for (a, b) in got.iter().zip(&y) {
                            assert!((a - b).abs() <= 1e-12 * scale, "{label} t={t}: {a} vs {b}");
                        }
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 5, "SPM predictions compared on {checked} runs");
}

#[test]
fn level_functions_compile_f_and_g_together() {
    let pe = convolution_pe();
    let level = LevelFunctions::compile("P.f*x + P.h*v", "P.g*x", 2, 1, &pe).unwrap();
    assert_eq!(level.p0, pe.spm_vec());
    assert_eq!(level.layout.len(), 14);
    assert_eq!(level.g.output_len(), 4);
    let top =
        LevelFunctions::compile("sparse(0,1)", "", 0, 0, &Param::from_rows(&[]).unwrap()).unwrap();
    assert!(top.g.is_empty());
    assert_eq!(
        LevelFunctions::compile("P.g*x", "P.g*x", 2, 1, &pe),
        Err(ExprError::OutputLength {
            what: "f",
            expected: 2,
            found: 4
        })
    );
}
