//! Node types, one file each: adding a node touches one place.

pub mod gamma;
pub mod gaussian_ard;

pub use gamma::Gamma;
pub use gaussian_ard::GaussianArd;
