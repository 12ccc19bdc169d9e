//! Hugging Face model folders: `config.json` (read into the same `Config` as GGUF
//! metadata), safetensors weights (one file or shards), `tokenizer.json`, and the chat
//! template and end-of-sequence ids from `chat_template.jinja`, `tokenizer_config.json`
//! and `generation_config.json`. A hub cache entry (`models--ORG--NAME`, or one of its
//! `snapshots/REV` folders) works as a folder.
//!
//! HF checkpoints keep q and k in the order of Hugging Face's `rotate_half` RoPE, so the
//! config switches RoPE to `RopeStyle::Neox` (GGUF Llama files are permuted for the
//! interleaved style instead).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, Result};
use crate::io::safetensors::Checkpoint;
use crate::kernels::ops::RopeStyle;
use crate::model::config::{
    Arch, Config, Ffn, NormKind, RopeScaling, MAX_CONTEXT, MAX_DIM, MAX_HEADS, MAX_LAYERS,
};
use crate::model::weights::{Role, TensorSource};
use crate::tensor::Tensor;

/// The files of a model folder, read.
pub struct Folder {
    pub dir: PathBuf,
    pub config: Config,
    pub checkpoint: HfTensors,
    pub chat_template: Option<String>,
    /// End-of-sequence ids from `generation_config.json` (may be several).
    pub eos_ids: Vec<u32>,
    /// `tokenizer_config.json`'s `bos_token` and `eos_token` (tokenizer.json does not say
    /// which tokens those are).
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
}

/// Resolves a hub cache entry `models--ORG--NAME` to the snapshot `refs/main` points at
/// (or its only snapshot); any other folder is returned as is.
pub fn resolve_dir(dir: &Path) -> Result<PathBuf> {
    if dir.join("config.json").is_file() || !dir.join("snapshots").is_dir() {
        return Ok(dir.to_path_buf());
    }
    if let Ok(rev) = std::fs::read_to_string(dir.join("refs").join("main")) {
        let snap = dir.join("snapshots").join(rev.trim());
        if snap.is_dir() {
            return Ok(snap);
        }
    }
    let snaps: Vec<PathBuf> = std::fs::read_dir(dir.join("snapshots"))
        .map_err(|source| Error::Io {
            path: dir.join("snapshots"),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    match &snaps[..] {
        [one] => Ok(one.clone()),
        _ => Err(Error::InvalidArgument(format!(
            "{}: a hub cache entry with {} snapshots and no refs/main; pass snapshots/REV",
            dir.display(),
            snaps.len()
        ))),
    }
}

fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| Error::format(format!("{}: {e}", path.display())))
}

/// Reads an optional JSON file: `None` when absent.
fn read_json_opt(path: &Path) -> Result<Option<Value>> {
    if path.is_file() {
        read_json(path).map(Some)
    } else {
        Ok(None)
    }
}

impl Folder {
    pub fn open(dir: &Path) -> Result<Folder> {
        let dir = resolve_dir(dir)?;
        let cfg_path = dir.join("config.json");
        if !cfg_path.is_file() {
            return Err(Error::InvalidArgument(format!(
                "{} is a folder without config.json: not a Hugging Face model",
                dir.display()
            )));
        }
        let json = read_json(&cfg_path)?;
        let config = config_from_json(&json).map_err(|e| match e {
            Error::Metadata { key, problem } => Error::Metadata {
                key: format!("{}: {key}", cfg_path.display()),
                problem,
            },
            other => other,
        })?;
        let checkpoint = HfTensors {
            ckpt: Checkpoint::open_dir(&dir)?,
            conv1d: config.arch == Arch::Gpt2,
        };
        // Chat template: chat_template.jinja, else tokenizer_config.json's.
        let tok_cfg = read_json_opt(&dir.join("tokenizer_config.json"))?;
        let jinja = dir.join("chat_template.jinja");
        let chat_template = if jinja.is_file() {
            Some(std::fs::read_to_string(&jinja).map_err(|source| Error::Io {
                path: jinja.clone(),
                source,
            })?)
        } else {
            tok_cfg.as_ref().and_then(|t| match &t["chat_template"] {
                Value::String(s) => Some(s.clone()),
                // A list of named templates: the "default" one.
                Value::Array(list) => list
                    .iter()
                    .find(|t| t["name"] == "default")
                    .and_then(|t| t["template"].as_str())
                    .map(str::to_string),
                _ => None,
            })
        };
        let gen = read_json_opt(&dir.join("generation_config.json"))?;
        let eos_ids = match gen.as_ref().map(|g| &g["eos_token_id"]) {
            Some(Value::Number(n)) => n.as_u64().map(|x| x as u32).into_iter().collect(),
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|x| x.as_u64())
                .map(|x| x as u32)
                .collect(),
            _ => Vec::new(),
        };
        // A token name is a string, or an AddedToken object with its `content`.
        let token_name = |key: &str| {
            tok_cfg.as_ref().and_then(|t| match &t[key] {
                Value::String(s) => Some(s.clone()),
                Value::Object(o) => o
                    .get("content")
                    .and_then(|c| c.as_str())
                    .map(str::to_string),
                _ => None,
            })
        };
        Ok(Folder {
            dir,
            config,
            checkpoint,
            chat_template,
            eos_ids,
            bos_token: token_name("bos_token"),
            eos_token: token_name("eos_token"),
        })
    }

    /// A folder held in memory: `config.json`'s text and one safetensors image (for
    /// tools and fuzzing; no chat template or generation config).
    pub fn from_memory(config_json: &str, safetensors: Vec<u8>) -> Result<Folder> {
        let json: Value = serde_json::from_str(config_json)
            .map_err(|e| Error::format(format!("config.json: {e}")))?;
        let config = config_from_json(&json)?;
        let file = crate::io::safetensors::SafetensorsFile::parse(
            std::sync::Arc::new(crate::io::bytes::FileBytes::from_vec(safetensors)),
            Path::new("model.safetensors"),
        )?;
        Ok(Folder {
            dir: PathBuf::new(),
            checkpoint: HfTensors {
                ckpt: Checkpoint::from_files(vec![file])?,
                conv1d: config.arch == Arch::Gpt2,
            },
            config,
            chat_template: None,
            eos_ids: Vec::new(),
            bos_token: None,
            eos_token: None,
        })
    }

    pub fn tokenizer_path(&self) -> PathBuf {
        self.dir.join("tokenizer.json")
    }
}

/// The checkpoint's tensors, with GPT-2's `Conv1D` matrices (stored `(in, out)`)
/// transposed to the `(out, in)` layout of every other linear layer.
pub struct HfTensors {
    ckpt: Checkpoint,
    conv1d: bool,
}

impl TensorSource for HfTensors {
    fn tensor(&self, name: &str) -> Result<Tensor> {
        let t = self.ckpt.tensor(name)?;
        let is_conv1d = self.conv1d
            && name.ends_with(".weight")
            && ["c_attn", "c_proj", "c_fc"]
                .iter()
                .any(|l| name.contains(l));
        if !is_conv1d {
            return Ok(t);
        }
        let &[rows, cols] = t.shape() else {
            return Err(Error::tensor(
                name,
                format!("shape {:?}, expected 2-D", t.shape()),
            ));
        };
        let v = t.to_f32();
        let mut tr = vec![0.0; v.len()];
        for r in 0..rows {
            for c in 0..cols {
                tr[c * rows + r] = v[r * cols + c];
            }
        }
        Tensor::from_f32(name, vec![cols, rows], tr)
    }

    fn has_tensor(&self, name: &str) -> bool {
        self.ckpt.has_tensor(name)
    }
}

/// Hugging Face's tensor names for `arch`, without `.weight` / `.bias`.
pub fn hf_name(arch: Arch, role: Role, l: usize) -> String {
    if arch == Arch::Gpt2 {
        let h = |s: &str| format!("transformer.h.{l}.{s}");
        return match role {
            Role::TokenEmbd => "transformer.wte".into(),
            Role::PosEmbd => "transformer.wpe".into(),
            Role::OutputNorm => "transformer.ln_f".into(),
            Role::Output => "lm_head".into(),
            Role::AttnNorm => h("ln_1"),
            Role::Qkv => h("attn.c_attn"),
            Role::AttnOut => h("attn.c_proj"),
            Role::FfnNorm => h("ln_2"),
            Role::Up => h("mlp.c_fc"),
            Role::Down => h("mlp.c_proj"),
            // GPT-2 has no separate q/k/v, gate or extra norms.
            _ => h("none"),
        };
    }
    let layer = |s: &str| format!("model.layers.{l}.{s}");
    match role {
        Role::TokenEmbd => "model.embed_tokens".into(),
        Role::PosEmbd => "model.embed_positions".into(),
        Role::OutputNorm => "model.norm".into(),
        Role::Output => "lm_head".into(),
        Role::AttnNorm => layer("input_layernorm"),
        Role::Q => layer("self_attn.q_proj"),
        Role::K => layer("self_attn.k_proj"),
        Role::V => layer("self_attn.v_proj"),
        Role::Qkv => layer("self_attn.qkv_proj"),
        Role::AttnOut => layer("self_attn.o_proj"),
        Role::QNorm => layer("self_attn.q_norm"),
        Role::KNorm => layer("self_attn.k_norm"),
        // Gemma's sandwich: post_attention_layernorm is the norm on attention's output and
        // pre_feedforward_layernorm the FFN's input norm; in Llama the former is the latter.
        Role::PostAttnNorm => layer("post_attention_layernorm"),
        Role::FfnNorm if matches!(arch, Arch::Gemma2 | Arch::Gemma3) => {
            layer("pre_feedforward_layernorm")
        }
        Role::FfnNorm => layer("post_attention_layernorm"),
        Role::Gate => layer("mlp.gate_proj"),
        Role::GateUp => layer("mlp.gate_up_proj"),
        Role::Up => layer("mlp.up_proj"),
        Role::Down => layer("mlp.down_proj"),
        Role::PostFfnNorm => layer("post_feedforward_layernorm"),
    }
}

/// Reads `config.json` into a `Config`.
pub fn config_from_json(j: &Value) -> Result<Config> {
    let model_type = j["model_type"]
        .as_str()
        .ok_or_else(|| Error::metadata("model_type", "missing or not a string"))?;
    let arch = match model_type {
        "llama" | "mistral" => Arch::Llama,
        "qwen2" => Arch::Qwen2,
        "qwen3" => Arch::Qwen3,
        "phi3" => Arch::Phi3,
        "gemma2" => Arch::Gemma2,
        "gemma3_text" => Arch::Gemma3,
        "smollm3" => Arch::SmolLm3,
        "gpt2" => Arch::Gpt2,
        "gemma3" => {
            return Err(Error::metadata(
                "model_type",
                "'gemma3' is the multimodal Gemma 3 (Gemma3ForConditionalGeneration); ingot \
                 runs its text-only form, model_type 'gemma3_text'",
            ))
        }
        other => return Err(Error::UnsupportedArchitecture(other.to_string())),
    };
    // The first of `keys` present; GPT-2 names its sizes differently.
    let get = |keys: &[&str]| keys.iter().map(|k| &j[*k]).find(|v| !v.is_null());
    let uint_opt = |keys: &[&str], cap: usize| -> Result<Option<usize>> {
        match get(keys) {
            None => Ok(None),
            Some(v) => match v.as_u64() {
                Some(n) if n >= 1 && n <= cap as u64 => Ok(Some(n as usize)),
                _ => Err(Error::metadata(
                    keys[0],
                    format!("{v} is not an integer in 1..={cap}"),
                )),
            },
        }
    };
    let uint = |keys: &[&str], cap: usize| -> Result<usize> {
        uint_opt(keys, cap)?.ok_or_else(|| Error::metadata(keys[0], "missing"))
    };
    let float_opt = |keys: &[&str]| -> Result<Option<f32>> {
        match get(keys) {
            None => Ok(None),
            Some(v) => match v.as_f64() {
                Some(x) if x.is_finite() && x > 0.0 => Ok(Some(x as f32)),
                _ => Err(Error::metadata(
                    keys[0],
                    format!("{v} is not a positive number"),
                )),
            },
        }
    };
    let flag = |key: &str| j[key].as_bool().unwrap_or(false);

    let dim = uint(&["hidden_size", "n_embd"], MAX_DIM)?;
    let n_layers = uint(&["num_hidden_layers", "n_layer"], MAX_LAYERS)?;
    let n_heads = uint(&["num_attention_heads", "n_head"], MAX_HEADS)?;
    let n_kv_heads = uint_opt(&["num_key_value_heads"], MAX_HEADS)?.unwrap_or(n_heads);
    let hidden_dim = match uint_opt(&["intermediate_size", "n_inner"], 4 * MAX_DIM)? {
        Some(h) => h,
        None if arch == Arch::Gpt2 => 4 * dim,
        None => return Err(Error::metadata("intermediate_size", "missing")),
    };
    let vocab_size = uint(&["vocab_size"], crate::tokenizer::MAX_VOCAB)?;
    let seq_len = uint(&["max_position_embeddings", "n_positions"], MAX_CONTEXT)?;
    let head_dim = match uint_opt(&["head_dim"], MAX_DIM)? {
        Some(d) => d,
        None if dim.is_multiple_of(n_heads) => dim / n_heads,
        None => {
            return Err(Error::metadata(
                "num_attention_heads",
                format!("{n_heads} heads do not divide hidden_size {dim}"),
            ))
        }
    };
    let mut c = Config::base(
        arch, n_layers, dim, hidden_dim, n_heads, n_kv_heads, head_dim, vocab_size, seq_len,
    );
    c.norm_eps = float_opt(&["rms_norm_eps", "layer_norm_epsilon"])?.unwrap_or(1e-5);

    // Activations: only the ones each family is built with.
    let act = get(&["hidden_act", "hidden_activation", "activation_function"])
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let want_act: &[&str] = match arch {
        Arch::Llama | Arch::Qwen2 | Arch::Qwen3 | Arch::Phi3 | Arch::SmolLm3 => &["silu"],
        Arch::Gemma2 | Arch::Gemma3 => &["gelu_pytorch_tanh", "gelu_new"],
        Arch::Gpt2 => &["gelu_new", "gelu_pytorch_tanh"],
    };
    if !want_act.contains(&act) {
        return Err(Error::metadata(
            "hidden_act",
            format!("activation '{act}' is not supported for {model_type} (expected {want_act:?})"),
        ));
    }
    for key in [
        "attention_bias",
        "mlp_bias",
        "scale_attn_by_inverse_layer_idx",
    ] {
        if flag(key) {
            return Err(Error::metadata(key, "true is not supported"));
        }
    }
    c.attn_softcap = float_opt(&["attn_logit_softcapping"])?;

    // RoPE: transformers 5 writes `rope_parameters` (one set, or one per layer type);
    // older files write `rope_theta` and `rope_scaling`.
    if let Some(rope) = c.rope.as_mut() {
        rope.style = RopeStyle::Neox;
        let params = &j["rope_parameters"];
        let (global, local) = if params["full_attention"].is_object() {
            (&params["full_attention"], &params["sliding_attention"])
        } else if params.is_object() {
            (params, &Value::Null)
        } else {
            (&j["rope_scaling"], &Value::Null)
        };
        rope.base = float_opt(&["rope_theta"])?
            .or(global["rope_theta"].as_f64().map(|x| x as f32))
            .unwrap_or(10_000.0);
        rope.local_base = local["rope_theta"]
            .as_f64()
            .map(|x| x as f32)
            .or(float_opt(&["rope_local_base_freq"])?);
        rope.scaling = rope_scaling(j, global, seq_len)?;
        if let Some(p) = global["partial_rotary_factor"]
            .as_f64()
            .filter(|&p| p != 1.0)
        {
            return Err(Error::metadata(
                "partial_rotary_factor",
                format!("{p}: partial rotary embeddings are not supported"),
            ));
        }
    }

    // Sliding windows: `layer_types` when written, else each family's rule.
    c.sliding_window = uint_opt(&["sliding_window"], MAX_CONTEXT)?;
    let layer_types = j["layer_types"].as_array();
    c.sliding_layers = match layer_types {
        Some(types) => types
            .iter()
            .map(|t| match t.as_str() {
                Some("sliding_attention") => Ok(true),
                Some("full_attention") => Ok(false),
                _ => Err(Error::metadata(
                    "layer_types",
                    format!("unknown layer type {t}"),
                )),
            })
            .collect::<Result<_>>()?,
        None => match arch {
            Arch::Gemma3 => {
                let p = uint_opt(&["sliding_window_pattern"], MAX_LAYERS)?.unwrap_or(6);
                (0..n_layers).map(|l| (l + 1) % p != 0).collect()
            }
            Arch::Gemma2 => (0..n_layers).map(|l| l % 2 == 0).collect(),
            Arch::Qwen2 | Arch::Qwen3 if !flag("use_sliding_window") => vec![false; n_layers],
            Arch::Qwen2 | Arch::Qwen3 => {
                let from = uint_opt(&["max_window_layers"], MAX_LAYERS)?.unwrap_or(0);
                (0..n_layers).map(|l| l >= from).collect()
            }
            _ => vec![c.sliding_window.is_some(); n_layers],
        },
    };
    if matches!(model_type, "qwen2" | "qwen3" | "smollm3") && !flag("use_sliding_window") {
        c.sliding_window = None;
    }
    if c.sliding_window.is_none() {
        c.sliding_layers = vec![false; n_layers];
    }

    match arch {
        Arch::Llama | Arch::Phi3 => {}
        Arch::Qwen2 => c.qkv_bias = true,
        Arch::Qwen3 => c.qk_norm = true,
        Arch::SmolLm3 => {
            // `no_rope_layers`: 1 where the layer uses RoPE; else every `interval`-th has none.
            c.rope_layers = match j["no_rope_layers"].as_array() {
                Some(v) if v.len() == n_layers => v.iter().map(|x| x.as_u64() != Some(0)).collect(),
                Some(v) => {
                    return Err(Error::metadata(
                        "no_rope_layers",
                        format!("{} entries for {n_layers} layers", v.len()),
                    ))
                }
                None => {
                    let every = uint_opt(&["no_rope_layer_interval"], MAX_LAYERS)?.unwrap_or(4);
                    (0..n_layers).map(|l| (l + 1) % every != 0).collect()
                }
            };
        }
        Arch::Gemma2 | Arch::Gemma3 => {
            c.ffn = Ffn::GeluGated;
            c.qk_norm = arch == Arch::Gemma3;
            c.sandwich_norms = true;
            c.embed_scale = (dim as f32).sqrt();
            c.norm_weight_offset = 1.0;
            c.norm_eps = float_opt(&["rms_norm_eps"])?.unwrap_or(1e-6);
            let scalar = float_opt(&["query_pre_attn_scalar"])?.unwrap_or(head_dim as f32);
            c.attn_scale = 1.0 / scalar.sqrt();
            c.final_softcap = float_opt(&["final_logit_softcapping"])?;
            if let (Arch::Gemma3, Some(rope)) = (arch, c.rope.as_mut()) {
                rope.local_base.get_or_insert(10_000.0);
            }
        }
        Arch::Gpt2 => {
            c.rope = None;
            c.norm = NormKind::Layer;
            c.ffn = Ffn::Gelu;
            c.qkv_bias = true;
            c.proj_bias = true;
            if j["scale_attn_weights"] == false {
                c.attn_scale = 1.0;
            }
        }
    }
    c.validate("config.json")?;
    Ok(c)
}

/// Phi-3's LongRoPE parameters (transformers' `_compute_longrope_parameters`): the
/// factor lists, the original context, and the attention factor, given or
/// `sqrt(1 + ln(s) / ln(original))` for `s = max_position_embeddings / original`.
fn longrope(j: &Value, p: &Value, seq_len: usize) -> Result<RopeScaling> {
    let list = |k: &str| -> Result<Vec<f32>> {
        p[k].as_array()
            .and_then(|a| a.iter().map(|x| x.as_f64().map(|x| x as f32)).collect())
            .ok_or_else(|| {
                Error::metadata(
                    &format!("rope_scaling.{k}"),
                    "missing or not a list of numbers",
                )
            })
    };
    let original = p["original_max_position_embeddings"]
        .as_u64()
        .or(j["original_max_position_embeddings"].as_u64())
        .filter(|&n| n > 0 && n <= MAX_CONTEXT as u64)
        .ok_or_else(|| {
            Error::metadata(
                "original_max_position_embeddings",
                "missing or out of range",
            )
        })? as usize;
    let scale = seq_len as f64 / original as f64;
    let attn_factor = match p["attention_factor"].as_f64() {
        Some(f) => f,
        None if scale <= 1.0 => 1.0,
        None => (1.0 + scale.ln() / (original as f64).ln()).sqrt(),
    } as f32;
    Ok(RopeScaling::LongRope {
        short: list("short_factor")?,
        long: list("long_factor")?,
        original_context: original,
        attn_factor,
    })
}

/// A `rope_scaling` / `rope_parameters` object `p` of `config.json` `j`: default, linear,
/// llama3 or longrope (whose defaults depend on the context length `seq_len`).
fn rope_scaling(j: &Value, p: &Value, seq_len: usize) -> Result<RopeScaling> {
    if !p.is_object() {
        return Ok(RopeScaling::None);
    }
    let kind = p["rope_type"]
        .as_str()
        .or(p["type"].as_str())
        .unwrap_or("default");
    let num = |k: &str| -> Result<f32> {
        p[k].as_f64()
            .filter(|x| x.is_finite() && *x > 0.0)
            .map(|x| x as f32)
            .ok_or_else(|| Error::metadata(&format!("rope_scaling.{k}"), "missing or not positive"))
    };
    match kind {
        "default" => Ok(RopeScaling::None),
        "linear" => Ok(RopeScaling::Linear(num("factor")?)),
        "llama3" => {
            let (low, high) = (num("low_freq_factor")?, num("high_freq_factor")?);
            if high <= low {
                return Err(Error::metadata(
                    "rope_scaling.high_freq_factor",
                    format!("{high} must exceed low_freq_factor {low}"),
                ));
            }
            Ok(RopeScaling::Llama3 {
                factor: num("factor")?,
                low_freq_factor: low,
                high_freq_factor: high,
                original_context: num("original_max_position_embeddings")? as usize,
            })
        }
        "longrope" | "su" => longrope(j, p, seq_len),
        other => Err(Error::metadata(
            "rope_scaling",
            format!("RoPE type '{other}' is not supported"),
        )),
    }
}
