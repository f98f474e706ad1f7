//! The failure vector p = [p_0, …, p_L]: one crash probability per layer of neurons (SPEC §1).

use crate::error::{ModelError, Result};
use std::str::FromStr;

/// Validated crash probabilities, one per layer of neurons (input, hidden…, output).
///
/// Each neuron of layer l crashes (outputs exactly 0) independently with probability `p[l]`;
/// survivors are not rescaled.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "Vec<f64>", into = "Vec<f64>")]
pub struct FailureVector(Vec<f64>);

impl FailureVector {
    /// Checks that every entry is a finite number in [0, 1].
    pub fn new(p: Vec<f64>) -> Result<Self> {
        for (layer, &value) in p.iter().enumerate() {
            if !(0.0..=1.0).contains(&value) {
                return Err(ModelError::InvalidProbability { layer, value });
            }
        }
        Ok(Self(p))
    }

    /// Crashes at one layer only: `p` at `layer`, 0 elsewhere, for a network with
    /// `n_layers` layers of neurons.
    pub fn single(n_layers: usize, layer: usize, p: f64) -> Result<Self> {
        if layer >= n_layers {
            return Err(ModelError::FailureLength {
                expected: n_layers,
                got: layer + 1,
            });
        }
        let mut v = vec![0.0; n_layers];
        v[layer] = p;
        Self::new(v)
    }

    /// Parses a comma-separated list such as `0,0.01,0,0` (also available as [`FromStr`]).
    pub fn parse(s: &str) -> Result<Self> {
        let mut v = Vec::new();
        for (layer, part) in s.split(',').enumerate() {
            let value: f64 =
                part.trim()
                    .parse()
                    .map_err(|_| ModelError::UnparsableProbability {
                        layer,
                        text: part.trim().to_string(),
                    })?;
            v.push(value);
        }
        Self::new(v)
    }

    /// Checks `self` against `net` once, at the edge of a program: one entry per layer of
    /// neurons (SPEC §1). Returns `self`, so that `p.parse::<FailureVector>()?.for_network(&net)?`
    /// validates a command-line failure vector and its network together.
    pub fn for_network(self, net: &crate::Mlp) -> Result<Self> {
        self.check_len(net.n_neuron_layers())?;
        Ok(self)
    }

    /// Checks that there is one entry per layer of neurons of a network with `n_layers` of them.
    pub fn check_len(&self, n_layers: usize) -> Result<()> {
        if self.0.len() != n_layers {
            return Err(ModelError::FailureLength {
                expected: n_layers,
                got: self.0.len(),
            });
        }
        Ok(())
    }

    /// The probabilities.
    pub fn as_slice(&self) -> &[f64] {
        &self.0
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Layers with a non-zero crash probability, in increasing order.
    pub fn crashing_layers(&self) -> Vec<usize> {
        (0..self.0.len()).filter(|&l| self.0[l] > 0.0).collect()
    }

    /// The first layer with a non-zero crash probability, if any.
    pub fn first_crashing_layer(&self) -> Option<usize> {
        self.0.iter().position(|&p| p > 0.0)
    }
}

impl TryFrom<Vec<f64>> for FailureVector {
    type Error = ModelError;
    fn try_from(v: Vec<f64>) -> Result<Self> {
        Self::new(v)
    }
}

impl From<FailureVector> for Vec<f64> {
    fn from(p: FailureVector) -> Self {
        p.0
    }
}

impl std::ops::Index<usize> for FailureVector {
    type Output = f64;
    fn index(&self, i: usize) -> &f64 {
        &self.0[i]
    }
}

impl FromStr for FailureVector {
    type Err = ModelError;
    /// [`FailureVector::parse`]: a comma-separated list such as `0,0.01,0,0`; usable as
    /// clap's `value_parser`.
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_and_rejects_invalid() {
        assert!(FailureVector::new(vec![0.0, 0.5, 1.0]).is_ok());
        for bad in [-0.1, 1.1, f64::NAN, f64::INFINITY] {
            let err = FailureVector::new(vec![0.0, bad]).unwrap_err();
            assert!(matches!(
                err,
                ModelError::InvalidProbability { layer: 1, .. }
            ));
        }
    }

    #[test]
    fn from_str_and_network_check() {
        let p: FailureVector = "0,0.5, 0".parse().unwrap();
        assert_eq!(p.as_slice(), &[0.0, 0.5, 0.0]);
        assert!(matches!(
            "0,x".parse::<FailureVector>(),
            Err(ModelError::UnparsableProbability { layer: 1, .. })
        ));
        let net = crate::Mlp::new(
            vec![crate::Dense::new(vec![1.0, 2.0], vec![0.0], 1, 2).unwrap()],
            crate::Activation::Relu,
            1.0,
        )
        .unwrap();
        assert!(FailureVector::parse("0,0.1")
            .unwrap()
            .for_network(&net)
            .is_ok());
        assert!(matches!(
            p.for_network(&net),
            Err(ModelError::FailureLength {
                expected: 2,
                got: 3
            })
        ));
    }

    #[test]
    fn parses_lists() {
        let p = FailureVector::parse("0, 0.01,0,0").unwrap();
        assert_eq!(p.as_slice(), &[0.0, 0.01, 0.0, 0.0]);
        assert_eq!(p.crashing_layers(), vec![1]);
        assert_eq!(p.first_crashing_layer(), Some(1));
        assert!(FailureVector::parse("0,x").is_err());
        assert!(FailureVector::parse("0,nan").is_err());
        assert!(p.check_len(3).is_err());
        assert!(p.check_len(4).is_ok());
    }

    #[test]
    fn serde_validates() {
        let p: FailureVector = serde_json::from_str("[0.0, 0.25]").unwrap();
        assert_eq!(p.as_slice(), &[0.0, 0.25]);
        assert!(serde_json::from_str::<FailureVector>("[0.0, 2.0]").is_err());
    }
}
