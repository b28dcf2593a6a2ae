//! Loading ResNet18 weights from PyTorch `.pth` and `.safetensors` files, checking them against
//! the architecture, and identifying them by content.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;

/// One tensor of weights, always held as f32.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

impl WeightTensor {
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Self {
        debug_assert_eq!(shape.iter().product::<usize>(), data.len());
        Self { shape, data }
    }
}

/// A complete, validated set of ResNet18 weights with a `head`-output linear layer.
#[derive(Debug, Clone)]
pub struct Weights {
    tensors: BTreeMap<String, WeightTensor>,
    head: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("could not read the model file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a model file Histoscore can read ({why}). Use a PyTorch state_dict saved with torch.save(model.state_dict(), …) or a .safetensors file")]
    Format { path: String, why: String },
    #[error("{path}: the weights do not fit ResNet18 with a linear head: {problems}")]
    Mismatch { path: String, problems: String },
    #[error("the weights do not fit ResNet18 with a linear head: {0}")]
    Shapes(String),
    #[error("could not write the model to {path}: {message}")]
    Write { path: String, message: String },
    #[error("{path}: tensor {name} has dtype {dtype}, which cannot be used as weights")]
    Dtype {
        path: String,
        name: String,
        dtype: String,
    },
}

/// Names and shapes of torchvision's ResNet18 (BasicBlock, [2, 2, 2, 2]) with `fc` 512→`head`.
pub fn resnet18_spec(head: usize) -> Vec<(String, Vec<usize>)> {
    let mut spec = Vec::new();
    let bn = |spec: &mut Vec<(String, Vec<usize>)>, prefix: &str, c: usize| {
        for p in ["weight", "bias", "running_mean", "running_var"] {
            spec.push((format!("{prefix}.{p}"), vec![c]));
        }
    };
    spec.push(("conv1.weight".to_string(), vec![64, 3, 7, 7]));
    bn(&mut spec, "bn1", 64);
    let mut cin = 64;
    for (layer, c) in [(1, 64), (2, 128), (3, 256), (4, 512)] {
        for block in 0..2 {
            let p = format!("layer{layer}.{block}");
            let block_in = if block == 0 { cin } else { c };
            spec.push((format!("{p}.conv1.weight"), vec![c, block_in, 3, 3]));
            bn(&mut spec, &format!("{p}.bn1"), c);
            spec.push((format!("{p}.conv2.weight"), vec![c, c, 3, 3]));
            bn(&mut spec, &format!("{p}.bn2"), c);
            if block == 0 && layer > 1 {
                spec.push((format!("{p}.downsample.0.weight"), vec![c, block_in, 1, 1]));
                bn(&mut spec, &format!("{p}.downsample.1"), c);
            }
        }
        cin = c;
    }
    spec.push(("fc.weight".to_string(), vec![head, 512]));
    spec.push(("fc.bias".to_string(), vec![head]));
    spec
}

fn is_bookkeeping(name: &str) -> bool {
    name.ends_with("num_batches_tracked")
}

/// The largest linear head accepted (one output per scored metric).
pub const MAX_HEAD: usize = 1024;

/// Checks tensor names and shapes against ResNet18 before any value is read; returns the head
/// size (from `fc.bias`). The error lists every missing, extra and mis-shaped tensor.
fn check_shapes(shapes: &BTreeMap<String, Vec<usize>>) -> Result<usize, String> {
    let head = shapes
        .get("fc.bias")
        .and_then(|s| s.first().copied())
        .unwrap_or(0);
    if head > MAX_HEAD {
        return Err(format!(
            "fc.bias declares {head} outputs; a scoring head has at most {MAX_HEAD}"
        ));
    }
    let spec = resnet18_spec(head);
    let mut missing = Vec::new();
    let mut misshaped = Vec::new();
    for (name, shape) in &spec {
        match shapes.get(name) {
            None => missing.push(name.clone()),
            Some(s) if s != shape => misshaped.push(format!("{name} is {s:?}, expected {shape:?}")),
            Some(_) => {}
        }
    }
    let extra: Vec<_> = shapes
        .keys()
        .filter(|k| !spec.iter().any(|(n, _)| n == *k))
        .cloned()
        .collect();
    let mut problems = Vec::new();
    if head == 0 {
        problems.push("no usable fc.bias (the linear head)".to_string());
    }
    let list = |v: &[String]| {
        if v.len() > 8 {
            format!("{} … and {} more", v[..8].join(", "), v.len() - 8)
        } else {
            v.join(", ")
        }
    };
    if !missing.is_empty() {
        problems.push(format!("missing {}", list(&missing)));
    }
    if !extra.is_empty() {
        problems.push(format!("unexpected {}", list(&extra)));
    }
    if !misshaped.is_empty() {
        problems.push(format!("wrong shape: {}", list(&misshaped)));
    }
    if problems.is_empty() {
        Ok(head)
    } else {
        Err(problems.join("; "))
    }
}

/// Runs a reader of the `candle` crate, turning a panic inside it (seen on malformed pickles)
/// into a refusal of the file.
fn guarded<T>(
    shown: &str,
    what: &str,
    read: impl FnOnce() -> candle_core::Result<T>,
) -> Result<T, WeightsError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(read)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(WeightsError::Format {
            path: shown.to_string(),
            why: format!("{what}: {e}"),
        }),
        Err(_) => Err(WeightsError::Format {
            path: shown.to_string(),
            why: format!("{what}: its structure is malformed"),
        }),
    }
}

/// Checks the tensors a PyTorch archive declares (names, shapes, storage sizes) against
/// ResNet18 and against the file's real size, reading only the archive's index and pickle.
fn check_pth_declarations(path: &Path, shown: &str) -> Result<(), WeightsError> {
    let infos = guarded(
        shown,
        "PyTorch zip archive without a readable state_dict",
        || candle_core::pickle::read_pth_tensor_info(path, false, None),
    )?;
    let file_len = std::fs::metadata(path)
        .map_err(|source| WeightsError::Io {
            path: shown.to_string(),
            source,
        })?
        .len();
    let mut shapes = BTreeMap::new();
    let mut storages: BTreeMap<&str, u64> = BTreeMap::new();
    for info in &infos {
        let bytes = (info.storage_size as u64).saturating_mul(info.dtype.size_in_bytes() as u64);
        storages.insert(info.path.as_str(), bytes);
        let name = info.name.strip_prefix("module.").unwrap_or(&info.name);
        if !is_bookkeeping(name) {
            shapes.insert(name.to_string(), info.layout.dims().to_vec());
        }
    }
    let declared = storages
        .values()
        .fold(0u64, |total, b| total.saturating_add(*b));
    if declared > file_len {
        return Err(WeightsError::Format {
            path: shown.to_string(),
            why: format!(
                "it declares {declared} bytes of tensor data but the file has only {file_len} \
                 bytes (truncated or forged)"
            ),
        });
    }
    check_shapes(&shapes).map_err(|problems| WeightsError::Mismatch {
        path: shown.to_string(),
        problems,
    })?;
    Ok(())
}

impl Weights {
    /// Loads a `.pth` (PyTorch zip) or `.safetensors` file, recognised by content.
    pub fn load(path: &Path) -> Result<Self, WeightsError> {
        let shown = path.display().to_string();
        let mut magic = [0u8; 9];
        let n = {
            use std::io::Read;
            let mut f = std::fs::File::open(path).map_err(|source| WeightsError::Io {
                path: shown.clone(),
                source,
            })?;
            let mut n = 0;
            while n < magic.len() {
                match f.read(&mut magic[n..]) {
                    Ok(0) => break,
                    Ok(k) => n += k,
                    Err(source) => {
                        return Err(WeightsError::Io {
                            path: shown.clone(),
                            source,
                        })
                    }
                }
            }
            n
        };
        let raw: Vec<(String, candle_core::Tensor)> = if n >= 4 && &magic[..4] == b"PK\x03\x04" {
            // What the archive declares is checked before any tensor is read: a few hundred
            // bytes can declare terabytes.
            check_pth_declarations(path, &shown)?;
            guarded(
                &shown,
                "PyTorch zip archive without a readable state_dict",
                || candle_core::pickle::read_all(path),
            )?
        } else if n == 9 && magic[8] == b'{' {
            // The safetensors reader checks every declared tensor against the file's real
            // size before anything is read, so nothing larger than the file is allocated.
            let map = guarded(&shown, "unreadable safetensors", || {
                candle_core::safetensors::load(path, &candle_core::Device::Cpu)
            })?;
            map.into_iter().collect()
        } else if n >= 2 && magic[0] == 0x80 {
            return Err(WeightsError::Format {
                path: shown,
                why: "a legacy (pre-1.6, non-zip) PyTorch pickle; re-save it with a current torch.save".into(),
            });
        } else {
            return Err(WeightsError::Format {
                path: shown,
                why: "neither a PyTorch zip archive nor safetensors".into(),
            });
        };
        let mut tensors = BTreeMap::new();
        for (name, t) in raw {
            let name = name.strip_prefix("module.").unwrap_or(&name).to_string();
            if is_bookkeeping(&name) {
                continue;
            }
            let shape = t.dims().to_vec();
            let data = t
                .to_dtype(candle_core::DType::F32)
                .and_then(|t| t.flatten_all())
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(|_| WeightsError::Dtype {
                    path: shown.clone(),
                    name: name.clone(),
                    dtype: format!("{:?}", t.dtype()),
                })?;
            tensors.insert(name, WeightTensor::new(shape, data));
        }
        Self::from_tensors(tensors).map_err(|e| match e {
            WeightsError::Shapes(problems) => WeightsError::Mismatch {
                path: shown,
                problems,
            },
            other => other,
        })
    }

    /// Validates a set of named tensors against ResNet18; the head size is taken from `fc.bias`.
    /// The error lists every missing, extra and mis-shaped tensor.
    pub fn from_tensors(mut tensors: BTreeMap<String, WeightTensor>) -> Result<Self, WeightsError> {
        tensors.retain(|k, _| !is_bookkeeping(k));
        let shapes: BTreeMap<String, Vec<usize>> = tensors
            .iter()
            .map(|(k, t)| (k.clone(), t.shape.clone()))
            .collect();
        let head = check_shapes(&shapes).map_err(WeightsError::Shapes)?;
        Ok(Self { tensors, head })
    }

    /// Number of outputs of the linear head (one per scored metric).
    pub fn head(&self) -> usize {
        self.head
    }

    pub fn len(&self) -> usize {
        self.tensors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty()
    }

    pub fn get(&self, name: &str) -> &WeightTensor {
        &self.tensors[name]
    }

    pub fn tensors(&self) -> &BTreeMap<String, WeightTensor> {
        &self.tensors
    }

    /// Number of scalar parameters (including BatchNorm statistics).
    pub fn parameter_count(&self) -> usize {
        self.tensors.values().map(|t| t.data.len()).sum()
    }

    /// Content identity: SHA-256 over every tensor's name, shape and values (f32, little
    /// endian), in name order. The same weights give the same id from `.pth` or `.safetensors`,
    /// with or without `module.` prefixes and `num_batches_tracked`.
    pub fn id(&self) -> String {
        let mut h = Sha256::new();
        for (name, t) in &self.tensors {
            h.update((name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
            h.update((t.shape.len() as u64).to_le_bytes());
            for d in &t.shape {
                h.update((*d as u64).to_le_bytes());
            }
            for v in &t.data {
                h.update(v.to_le_bytes());
            }
        }
        hex::encode(&h.finalize()[..8])
    }

    /// The deterministic demo model: ResNet18 initialised from a fixed seed the way torchvision
    /// initialises an untrained network (Kaiming-normal convolutions, identity BatchNorm), with
    /// the head biased to mid-range. It has never seen tissue; its scores mean nothing.
    pub fn demo(head: usize) -> Self {
        let mut rng = SplitMix64(0x4869_7374_6f73_636f); // "Histosco"
        let mut tensors = BTreeMap::new();
        for (name, shape) in resnet18_spec(head) {
            let n: usize = shape.iter().product();
            let data: Vec<f32> = if name.ends_with("running_var")
                || name.ends_with("bn1.weight")
                || name.ends_with("bn2.weight")
                || name.ends_with("downsample.1.weight")
            {
                vec![1.0; n]
            } else if name.ends_with("running_mean") || name.ends_with(".bias") && name != "fc.bias"
            {
                vec![0.0; n]
            } else if name == "fc.bias" {
                vec![0.5; n]
            } else if name == "fc.weight" {
                let bound = 1.0 / 512f64.sqrt() * 0.1;
                (0..n)
                    .map(|_| ((rng.next_f64() * 2.0 - 1.0) * bound) as f32)
                    .collect()
            } else {
                // Conv weights: Kaiming normal, fan_out mode, ReLU gain.
                let fan_out = (shape[0] * shape[2] * shape[3]) as f64;
                let std = (2.0 / fan_out).sqrt();
                (0..n).map(|_| (rng.normal() * std) as f32).collect()
            };
            tensors.insert(name, WeightTensor::new(shape, data));
        }
        Self::from_tensors(tensors).expect("demo weights follow the spec")
    }
}

/// A tiny deterministic generator for the demo weights (SplitMix64 + Box–Muller).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let u1 = self.next_f64().max(f64::MIN_POSITIVE);
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_has_resnet18_size() {
        let spec = resnet18_spec(4);
        // torchvision resnet18 state_dict: 122 entries incl. 20 num_batches_tracked.
        assert_eq!(spec.len(), 102);
        let params: usize = spec
            .iter()
            .filter(|(n, _)| !n.contains("running_"))
            .map(|(_, s)| s.iter().product::<usize>())
            .sum();
        assert_eq!(params, 11_178_564); // resnet18 with fc 512→4
    }

    #[test]
    fn demo_is_deterministic_and_valid() {
        let a = Weights::demo(4);
        let b = Weights::demo(4);
        assert_eq!(a.id(), b.id());
        assert_eq!(a.head(), 4);
        assert_ne!(Weights::demo(3).id(), a.id());
    }

    #[test]
    fn mismatch_names_the_tensors() {
        let mut t = Weights::demo(4).tensors().clone();
        t.remove("layer2.0.conv1.weight");
        t.insert("extra.weight".into(), WeightTensor::new(vec![1], vec![0.0]));
        t.insert("bn1.bias".into(), WeightTensor::new(vec![3], vec![0.0; 3]));
        let err = Weights::from_tensors(t).unwrap_err().to_string();
        assert!(err.contains("missing layer2.0.conv1.weight"), "{err}");
        assert!(err.contains("unexpected extra.weight"), "{err}");
        assert!(err.contains("bn1.bias is [3], expected [64]"), "{err}");
    }
}

#[cfg(test)]
mod forged {
    use super::*;
    use std::io::Write;

    /// A PyTorch-style archive whose pickle declares one float tensor of `shape` named `name`,
    /// backed by a storage of `numel` elements (of which the file holds 4 bytes).
    fn forged_pth(dir: &Path, name: &str, shape: &[u32], numel: u64) -> std::path::PathBuf {
        let mut p: Vec<u8> = vec![0x80, 0x02, b'}', b'('];
        let unicode = |p: &mut Vec<u8>, s: &str| {
            p.push(b'X');
            p.extend((s.len() as u32).to_le_bytes());
            p.extend(s.as_bytes());
        };
        let int = |p: &mut Vec<u8>, v: u32| {
            p.push(b'J');
            p.extend(v.to_le_bytes());
        };
        unicode(&mut p, name);
        p.extend(b"ctorch._utils\n_rebuild_tensor_v2\n(");
        p.push(b'(');
        unicode(&mut p, "storage");
        p.extend(b"ctorch\nFloatStorage\n");
        unicode(&mut p, "0");
        unicode(&mut p, "cpu");
        p.extend([0x8a, 8]); // LONG1, 8 bytes
        p.extend(numel.to_le_bytes());
        p.extend(b"tQ"); // the storage tuple, as a persistent id
        p.extend([b'K', 0]); // offset
        p.push(b'(');
        for d in shape {
            int(&mut p, *d);
        }
        p.push(b't');
        p.push(b'(');
        let mut stride = 1u32;
        let mut strides = Vec::new();
        for d in shape.iter().rev() {
            strides.push(stride);
            stride = stride.saturating_mul(*d);
        }
        for s in strides.iter().rev() {
            int(&mut p, *s);
        }
        p.push(b't');
        p.push(0x89); // False: requires_grad
        p.extend(b"ccollections\nOrderedDict\n)R");
        p.extend(b"tR"); // _rebuild_tensor_v2(...)
        p.extend(b"u."); // SETITEMS, STOP
        let path = dir.join("forged.pth");
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        zip.start_file("archive/data.pkl", opts).unwrap();
        zip.write_all(&p).unwrap();
        zip.start_file("archive/data/0", opts).unwrap();
        zip.write_all(&[0; 4]).unwrap();
        zip.finish().unwrap();
        path
    }

    #[test]
    fn a_small_file_declaring_a_huge_tensor_is_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        // 100 000 × 100 000 floats: 40 GB, from a file under a kilobyte.
        let path = forged_pth(dir.path(), "fc.weight", &[100_000, 100_000], 10_000_000_000);
        assert!(std::fs::metadata(&path).unwrap().len() < 1024);
        let err = Weights::load(&path).unwrap_err().to_string();
        assert!(err.contains("declares 40000000000 bytes"), "{err}");
        // A storage size that overflows when counted in bytes.
        let path = forged_pth(dir.path(), "fc.bias", &[4], u64::MAX / 2);
        let err = Weights::load(&path).unwrap_err().to_string();
        assert!(err.contains("but the file has only"), "{err}");
    }

    /// Found by the `model_file` fuzz target: a pickle whose storage tuple is too short made
    /// the `candle` reader panic (index out of bounds), which aborted `histoscore model
    /// inspect` and answered 500 to an HTTP import.
    #[test]
    fn a_pickle_that_panics_the_reader_is_refused() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/fuzz-pickle-short-storage-tuple.pth");
        let err = Weights::load(&path).unwrap_err().to_string();
        assert!(err.contains("malformed"), "{err}");
    }

    #[test]
    fn declared_shapes_are_checked_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        // Small storage, but a head far larger than any schema.
        let path = forged_pth(dir.path(), "fc.bias", &[2_000_000], 1);
        let err = Weights::load(&path).unwrap_err().to_string();
        assert!(err.contains("at most 1024"), "{err}");
        let path = forged_pth(dir.path(), "fc.bias", &[4], 1);
        let err = Weights::load(&path).unwrap_err().to_string();
        assert!(err.contains("missing conv1.weight"), "{err}");
    }

    #[test]
    fn safetensors_declaring_more_than_the_file_holds_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let header = br#"{"fc.weight":{"dtype":"F32","shape":[100000,100000],"data_offsets":[0,40000000000]}}"#;
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend(header);
        bytes.extend([0u8; 16]);
        let path = dir.path().join("forged.safetensors");
        std::fs::write(&path, bytes).unwrap();
        let err = Weights::load(&path).unwrap_err().to_string();
        assert!(err.contains("unreadable safetensors"), "{err}");
    }
}
