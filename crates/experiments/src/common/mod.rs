//! What several experiments share and no experiment owns: data handles ([`boston`],
//! [`mnist`]), seeds, grids ([`grids`]), shared measurements and result types ([`mnist`],
//! [`parts`]) and stored fits ([`fit`]). Nothing here imports an experiment.

pub mod boston;
pub mod cnn;
pub mod fit;
pub mod grids;
pub mod mnist;
pub mod parts;
