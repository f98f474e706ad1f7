//! `ftnn inspect`: what ftnn understood of a model — its layers and shapes, the function of
//! each activation, and the crash sites (SPEC §11) that `--p` gives one probability for.

use crate::common::emit;
use crate::network::{function_name, ModelArgs, Network};
use crate::CliError;
use ftnn_model::seq::Sequential;
use serde_json::json;

/// Arguments of `ftnn inspect`.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Print the description as JSON.
    #[arg(long)]
    json: bool,
}

/// One crash site as reported.
fn site_json(index: usize, label: &str, shape: &[usize], size: usize) -> serde_json::Value {
    json!({"site": index, "label": label, "shape": shape, "size": size})
}

/// The description of a loaded network: engine, layers and sites.
pub fn describe(net: &Network) -> serde_json::Value {
    match net {
        Network::Mlp(m) => {
            let sizes = m.sizes();
            let sites: Vec<_> = sizes
                .iter()
                .enumerate()
                .map(|(l, &n)| {
                    let label = match l {
                        0 => "input".to_string(),
                        l if l == sizes.len() - 1 => "output".to_string(),
                        l => format!("hidden layer {l}"),
                    };
                    site_json(l, &label, &[n], n)
                })
                .collect();
            json!({
                "engine": "mlp",
                "sizes": sizes,
                "activation": m.activation().name(),
                "k_lips": m.k_lips(),
                "function": function_name(m.activation(), m.k_lips()),
                "sites": sites,
            })
        }
        Network::Seq(s) => describe_seq(s),
    }
}

fn describe_seq(s: &Sequential) -> serde_json::Value {
    let sites: Vec<_> = s
        .sites()
        .iter()
        .map(|site| site_json(site.index, &site.label, &site.shape, site.size))
        .collect();
    let layers: Vec<_> = s
        .architecture()
        .layers
        .iter()
        .zip(s.layer_shapes())
        .enumerate()
        .map(|(i, (layer, shape))| json!({"layer": i, "op": layer.op(), "output_shape": shape}))
        .collect();
    json!({
        "engine": "sequential",
        "input_shape": s.input_shape(),
        "layers": layers,
        "architecture": s.architecture().to_value(),
        "sites": sites,
    })
}

/// The human-readable form of [`describe`].
pub fn to_text(d: &serde_json::Value) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    if d["engine"] == "mlp" {
        let _ = writeln!(
            s,
            "MLP {} — activation {} (K = {}), i.e. {}",
            d["sizes"], d["activation"], d["k_lips"], d["function"]
        );
    } else {
        let _ = writeln!(s, "Sequential network, input {}", d["input_shape"]);
        for l in d["layers"].as_array().into_iter().flatten() {
            let _ = writeln!(
                s,
                "  layer {:>3}  {:<20} → {}",
                l["layer"].as_u64().unwrap_or(0),
                l["op"].as_str().unwrap_or("?"),
                l["output_shape"]
            );
        }
    }
    let sites = d["sites"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(
        s,
        "{} crash sites (--p gives one probability each):",
        sites.len()
    );
    for site in &sites {
        let _ = writeln!(
            s,
            "  site {:>3}  {:<28} shape {:<16} {} elements",
            site["site"].as_u64().unwrap_or(0),
            site["label"].as_str().unwrap_or("?"),
            site["shape"].to_string(),
            site["size"]
        );
    }
    s
}

/// Runs `ftnn inspect`.
pub fn run(args: InspectArgs) -> Result<(), CliError> {
    let net = args.model.load()?;
    let d = describe(&net);
    let text = if args.json {
        serde_json::to_string_pretty(&d).expect("plain data serialises") + "\n"
    } else {
        to_text(&d)
    };
    emit(None, &text)
}
