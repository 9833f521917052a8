//! Helpers shared by the expression tests: fixtures read with their key
//! order kept (serde_json's own `Map` sorts keys, and `spm_vec` order is the
//! order of appearance), and finite-difference checks of derivatives.

#![allow(dead_code)]

use std::fmt;
use std::path::PathBuf;

use actinf_spm::expr::{CompiledExpr, Derivatives, Order, Param, Workspace};
use nalgebra::DMatrix;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// A JSON value whose objects keep their keys in order of appearance.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    List(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<Json, E> {
        Ok(Json::Num(n as f64))
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<Json, E> {
        Ok(Json::Num(n as f64))
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Json, E> {
        Ok(Json::Num(n))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Json, E> {
        Ok(Json::Str(s.to_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut fields = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Json>()? {
            fields.push((key, value));
        }
        Ok(Json::Object(fields))
    }
}

impl Json {
    pub fn get(&self, key: &str) -> &Json {
        match self {
            Json::Object(fields) => fields
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("no field {key}")),
            _ => panic!("not an object looking up {key}"),
        }
    }

    pub fn list(&self) -> &[Json] {
        match self {
            Json::List(items) => items,
            other => panic!("not a list: {other:?}"),
        }
    }

    pub fn str(&self) -> &str {
        match self {
            Json::Str(s) => s,
            other => panic!("not a string: {other:?}"),
        }
    }

    pub fn num(&self) -> f64 {
        match self {
            Json::Num(n) => *n,
            other => panic!("not a number: {other:?}"),
        }
    }

    /// A flat list of numbers (a scalar is a list of one).
    pub fn numbers(&self) -> Vec<f64> {
        match self {
            Json::Num(n) => vec![*n],
            Json::List(items) => items.iter().map(Json::num).collect(),
            other => panic!("not numbers: {other:?}"),
        }
    }

    /// A matrix in the fixtures' layout (list of rows), as rows.
    pub fn rows(&self) -> Vec<Vec<f64>> {
        match self {
            Json::List(items) if items.iter().all(|i| matches!(i, Json::List(_))) => {
                items.iter().map(Json::numbers).collect()
            }
            // a flat list is a column vector, as spm_vec makes them
            Json::List(items) => items.iter().map(|i| vec![i.num()]).collect(),
            Json::Num(n) => vec![vec![*n]],
            other => panic!("not a matrix: {other:?}"),
        }
    }

    /// `pE` as a parameter value: an object is a structure, anything else a
    /// matrix.
    pub fn param(&self) -> Param {
        match self {
            Json::Object(fields) => {
                Param::structure(fields.iter().map(|(k, v)| (k.clone(), v.param())).collect())
                    .unwrap()
            }
            other => Param::from_rows(&other.rows()).unwrap(),
        }
    }
}

/// The SPM12 fixtures directory, when the shared checkout is present.
pub fn fixtures_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/spm12");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: ../shared/fixtures/spm12 is absent");
        None
    }
}

pub fn read_fixture(dir: &std::path::Path, name: &str) -> Json {
    let text = std::fs::read_to_string(dir.join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Largest absolute entry of a matrix (1 for an empty one).
fn scale(m: &DMatrix<f64>) -> f64 {
    m.iter().fold(0.0_f64, |a, b| a.max(b.abs())).max(1.0)
}

/// Checks `got` against `want` to `rel` relative to the larger magnitude of
/// either; returns the error found.
pub fn assert_close(what: &str, got: &DMatrix<f64>, want: &DMatrix<f64>, rel: f64) -> f64 {
    assert_eq!(got.shape(), want.shape(), "{what}: shapes differ");
    let s = scale(got).max(scale(want));
    let err = (got - want).iter().fold(0.0_f64, |a, b| a.max(b.abs())) / s;
    assert!(
        err <= rel,
        "{what}: relative error {err:e} > {rel:e}\n got {got}\nwant {want}"
    );
    err
}

fn step(value: f64) -> f64 {
    1e-5 * value.abs().max(1.0)
}

/// Central differences of the value of `expr` in each element of one input
/// (0 = x, 1 = v, 2 = P).
pub fn fd_jacobian(
    expr: &CompiledExpr,
    x: &[f64],
    v: &[f64],
    p: &[f64],
    which: usize,
) -> DMatrix<f64> {
    let mut ws = Workspace::new();
    let inputs = [x, v, p];
    let n = inputs[which].len();
    let mut jac = DMatrix::zeros(expr.output_len(), n);
    for i in 0..n {
        let h = step(inputs[which][i]);
        let mut plus: Vec<Vec<f64>> = inputs.iter().map(|s| s.to_vec()).collect();
        let mut minus = plus.clone();
        plus[which][i] += h;
        minus[which][i] -= h;
        let fp = expr.value(&plus[0], &plus[1], &plus[2], &mut ws).unwrap();
        let fm = expr
            .value(&minus[0], &minus[1], &minus[2], &mut ws)
            .unwrap();
        jac.set_column(i, &((fp - fm) / (2.0 * h)));
    }
    jac
}

/// Checks every derivative `expr` gives at (x, v, p) against central
/// differences, the orders against each other, and a parameter basis
/// against the identity; returns the largest relative error seen.
pub fn check_derivatives(expr: &CompiledExpr, x: &[f64], v: &[f64], p: &[f64], rel: f64) -> f64 {
    let mut ws = Workspace::new();
    let mut second = Derivatives::new();
    expr.evaluate(x, v, p, None, Order::MixedSecond, &mut ws, &mut second)
        .unwrap();
    let mut first = Derivatives::new();
    expr.evaluate(x, v, p, None, Order::Jacobians, &mut ws, &mut first)
        .unwrap();
    let mut states = Derivatives::new();
    expr.evaluate(x, v, p, None, Order::StateJacobians, &mut ws, &mut states)
        .unwrap();
    let value = expr.value(x, v, p, &mut ws).unwrap();

    // every order gives the same value and first derivatives
    for d in [&second, &first, &states] {
        assert_eq!(
            d.value,
            value,
            "{}: value differs between orders",
            expr.text()
        );
    }
    assert_eq!(first.dx, second.dx);
    assert_eq!(states.dx, second.dx);
    assert_eq!(first.dv, second.dv);
    assert_eq!(states.dv, second.dv);
    assert_eq!(first.dp, second.dp, "{}: dp by order", expr.text());

    let mut worst = 0.0_f64;
    let t = expr.text();
    worst = worst.max(assert_close(
        &format!("{t}: dx"),
        &second.dx,
        &fd_jacobian(expr, x, v, p, 0),
        rel,
    ));
    worst = worst.max(assert_close(
        &format!("{t}: dv"),
        &second.dv,
        &fd_jacobian(expr, x, v, p, 1),
        rel,
    ));
    worst = worst.max(assert_close(
        &format!("{t}: dp"),
        &second.dp,
        &fd_jacobian(expr, x, v, p, 2),
        rel,
    ));

    // mixed second derivatives: differences in P of the exact state Jacobians
    for j in 0..p.len() {
        let h = step(p[j]);
        let (mut pp, mut pm) = (p.to_vec(), p.to_vec());
        pp[j] += h;
        pm[j] -= h;
        let mut dp_plus = Derivatives::new();
        let mut dp_minus = Derivatives::new();
        expr.evaluate(
            x,
            v,
            &pp,
            None,
            Order::StateJacobians,
            &mut ws,
            &mut dp_plus,
        )
        .unwrap();
        expr.evaluate(
            x,
            v,
            &pm,
            None,
            Order::StateJacobians,
            &mut ws,
            &mut dp_minus,
        )
        .unwrap();
        let fd_dxp = (&dp_plus.dx - &dp_minus.dx) / (2.0 * h);
        let fd_dvp = (&dp_plus.dv - &dp_minus.dv) / (2.0 * h);
        worst = worst.max(assert_close(
            &format!("{t}: dxp[{j}]"),
            &second.dxp[j],
            &fd_dxp,
            rel,
        ));
        worst = worst.max(assert_close(
            &format!("{t}: dvp[{j}]"),
            &second.dvp[j],
            &fd_dvp,
            rel,
        ));
    }

    // a parameter basis U gives dp·U and Σ_k U[k, j] dxp[k]
    if !p.is_empty() {
        let q = 3;
        let u = DMatrix::from_fn(p.len(), q, |i, j| ((i * 7 + j * 3) % 5) as f64 * 0.25 - 0.5);
        let mut projected = Derivatives::new();
        expr.evaluate(
            x,
            v,
            p,
            Some(&u),
            Order::MixedSecond,
            &mut ws,
            &mut projected,
        )
        .unwrap();
        assert_close(
            &format!("{t}: dp with basis"),
            &projected.dp,
            &(&second.dp * &u),
            1e-13,
        );
        for j in 0..q {
            let mut want_x = DMatrix::zeros(expr.output_len(), x.len());
            let mut want_v = DMatrix::zeros(expr.output_len(), v.len());
            for k in 0..p.len() {
                want_x += &second.dxp[k] * u[(k, j)];
                want_v += &second.dvp[k] * u[(k, j)];
            }
            assert_close(
                &format!("{t}: dxp with basis"),
                &projected.dxp[j],
                &want_x,
                1e-13,
            );
            assert_close(
                &format!("{t}: dvp with basis"),
                &projected.dvp[j],
                &want_v,
                1e-13,
            );
        }
        let mut projected_first = Derivatives::new();
        expr.evaluate(
            x,
            v,
            p,
            Some(&u),
            Order::Jacobians,
            &mut ws,
            &mut projected_first,
        )
        .unwrap();
        assert_close(
            &format!("{t}: dp with basis, first order"),
            &projected_first.dp,
            &(&second.dp * &u),
            1e-13,
        );
    }
    worst
}
