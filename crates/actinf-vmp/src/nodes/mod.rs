//! Node types, one file each: adding a node touches one place.

use crate::error::VmpError;

/// A vector dimension, refused when zero.
pub(crate) fn positive_dimension(what: &str, d: usize) -> Result<usize, VmpError> {
    if d == 0 {
        return Err(VmpError::Setting {
            name: what.into(),
            reason: "must be at least 1".into(),
        });
    }
    Ok(d)
}

pub mod gamma;
pub mod gaussian_ard;

pub use gamma::Gamma;
pub use gaussian_ard::GaussianArd;
pub mod bernoulli;
pub mod beta;
pub mod categorical;
pub mod dirichlet;
pub mod gaussian;
pub mod mixture;
pub mod wishart;
pub use bernoulli::bernoulli;
pub use beta::beta;
pub use categorical::Categorical;
pub use dirichlet::Dirichlet;
pub use gaussian::Gaussian;
pub use mixture::Mixture;
pub use wishart::Wishart;
pub mod categorical_chain;
pub use categorical_chain::CategoricalChain;
pub mod categorical_emission;
pub use categorical_emission::CategoricalEmission;
pub mod gaussian_chain;
pub use gaussian_chain::GaussianChain;
pub mod linear_gaussian;
pub use linear_gaussian::LinearGaussian;
pub mod dot_gaussian;
pub use dot_gaussian::DotGaussian;
pub mod gaussian_ard_vector;
pub use gaussian_ard_vector::GaussianArdVector;
