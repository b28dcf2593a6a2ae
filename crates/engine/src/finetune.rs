//! Fine-tuning the deeper layers (layer3, layer4 and the head by default) as the original
//! does, on CPU with candle's autograd: the ResNet18 forward pass in candle, targets ÷ max,
//! MSE, Adam, early stopping on the validation loss (evaluated with the running statistics,
//! as `model.eval()`). BatchNorm trains in the layers that train (batch statistics, running
//! statistics updated with momentum 0.1, as PyTorch's `model.train()`); in the frozen layers
//! it keeps its running statistics. The original put every BatchNorm in training mode: with
//! batches of eight that moves the statistics of layers nothing else changes, so that the
//! network evaluated afterwards is not the one trained (on real crops the fine-tune then lost
//! to training the last layer alone; `tests/learns.rs`).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

use crate::train::{EpochReport, Rng, Split, TrainError};
use crate::weights::{WeightTensor, Weights};

const EPS: f64 = 1e-5;
const MOMENTUM: f64 = 0.1;

/// Which parameters train: names starting with one of these prefixes (default: the
/// original's `layer3`, `layer4`, `fc`; `conv1`, `bn1`, `layer1`, `layer2` stay frozen).
pub const DEFAULT_TRAINABLE: &[&str] = &["layer3.", "layer4.", "fc."];

/// One image for fine-tuning: its preprocessed 3×224×224 tensor and targets (score units).
#[derive(Debug, Clone)]
pub struct TensorSample {
    pub group: String,
    pub input: Vec<f32>,
    pub targets: Vec<f64>,
}

/// The network's parameters (trainable ones as `Var`s) and BatchNorm running statistics.
pub struct Net {
    params: BTreeMap<String, Tensor>,
    vars: Vec<(String, Var)>,
    running: HashMap<String, Tensor>,
    head: usize,
    /// BatchNorm layers (prefixes) that train: batch statistics when training. The others,
    /// frozen, keep normalising with their running statistics and do not update them.
    train_bn: std::collections::HashSet<String>,
}

fn is_trainable(name: &str, trainable: &[&str]) -> bool {
    trainable.iter().any(|p| name.starts_with(p))
}

impl Net {
    pub fn new(weights: &Weights, trainable: &[&str]) -> Result<Self, TrainError> {
        let dev = Device::Cpu;
        let mut params = BTreeMap::new();
        let mut vars = Vec::new();
        let mut running = HashMap::new();
        for (name, t) in weights.tensors() {
            let tensor = Tensor::from_vec(t.data.clone(), t.shape.as_slice(), &dev)?;
            if name.ends_with("running_mean") || name.ends_with("running_var") {
                running.insert(name.clone(), tensor);
            } else if is_trainable(name, trainable) {
                let v = Var::from_tensor(&tensor)?;
                params.insert(name.clone(), v.as_tensor().clone());
                vars.push((name.clone(), v));
            } else {
                params.insert(name.clone(), tensor);
            }
        }
        let train_bn = vars
            .iter()
            .filter_map(|(n, _)| n.strip_suffix(".weight"))
            .filter(|p| running.contains_key(&format!("{p}.running_mean")))
            .map(str::to_string)
            .collect();
        Ok(Net {
            params,
            vars,
            running,
            head: weights.head(),
            train_bn,
        })
    }

    fn p(&self, name: &str) -> Result<&Tensor, TrainError> {
        self.params
            .get(name)
            .ok_or_else(|| TrainError::Compute(format!("missing tensor {name}")))
    }

    fn bn(&mut self, x: &Tensor, prefix: &str, train: bool) -> Result<Tensor, TrainError> {
        let train = train && self.train_bn.contains(prefix);
        let c = x.dim(1)?;
        let shape = (1, c, 1, 1);
        let gamma = self.p(&format!("{prefix}.weight"))?.reshape(shape)?;
        let beta = self.p(&format!("{prefix}.bias"))?.reshape(shape)?;
        let rm_name = format!("{prefix}.running_mean");
        let rv_name = format!("{prefix}.running_var");
        let (mean, var) = if train {
            let mean = x.mean_keepdim(0)?.mean_keepdim(2)?.mean_keepdim(3)?;
            let centred = x.broadcast_sub(&mean)?;
            let var = centred
                .sqr()?
                .mean_keepdim(0)?
                .mean_keepdim(2)?
                .mean_keepdim(3)?;
            // Running statistics, as PyTorch: momentum 0.1, unbiased variance.
            let n = (x.dim(0)? * x.dim(2)? * x.dim(3)?) as f64;
            let rm = self.running[&rm_name].clone();
            let rv = self.running[&rv_name].clone();
            let bm = mean.detach().flatten_all()?;
            let bv = var
                .detach()
                .flatten_all()?
                .affine(n / (n - 1.0).max(1.0), 0.0)?;
            self.running.insert(
                rm_name,
                (rm.affine(1.0 - MOMENTUM, 0.0)? + bm.affine(MOMENTUM, 0.0)?)?,
            );
            self.running.insert(
                rv_name,
                (rv.affine(1.0 - MOMENTUM, 0.0)? + bv.affine(MOMENTUM, 0.0)?)?,
            );
            (mean, var)
        } else {
            (
                self.running[&rm_name].reshape(shape)?,
                self.running[&rv_name].reshape(shape)?,
            )
        };
        let norm = x
            .broadcast_sub(&mean)?
            .broadcast_div(&(var + EPS)?.sqrt()?)?;
        Ok(norm.broadcast_mul(&gamma)?.broadcast_add(&beta)?)
    }

    fn conv(
        &self,
        x: &Tensor,
        name: &str,
        stride: usize,
        pad: usize,
    ) -> Result<Tensor, TrainError> {
        Ok(x.conv2d(self.p(&format!("{name}.weight"))?, pad, stride, 1, 1)?)
    }

    fn block(
        &mut self,
        x: &Tensor,
        prefix: &str,
        stride: usize,
        down: bool,
        train: bool,
    ) -> Result<Tensor, TrainError> {
        let y = self.conv(x, &format!("{prefix}.conv1"), stride, 1)?;
        let y = self.bn(&y, &format!("{prefix}.bn1"), train)?.relu()?;
        let y = self.conv(&y, &format!("{prefix}.conv2"), 1, 1)?;
        let y = self.bn(&y, &format!("{prefix}.bn2"), train)?;
        let identity = if down {
            let d = self.conv(x, &format!("{prefix}.downsample.0"), stride, 0)?;
            self.bn(&d, &format!("{prefix}.downsample.1"), train)?
        } else {
            x.clone()
        };
        Ok((y + identity)?.relu()?)
    }

    /// Raw outputs `[batch, head]` for inputs `[batch, 3, 224, 224]`. `train`: BatchNorm uses
    /// batch statistics and updates the running ones.
    pub fn forward(&mut self, x: &Tensor, train: bool) -> Result<Tensor, TrainError> {
        let x = self.conv(x, "conv1", 2, 3)?;
        let x = self.bn(&x, "bn1", train)?.relu()?;
        // Max pooling 3×3, stride 2, padding 1: after ReLU zero padding is the same as -inf.
        let x = x.pad_with_zeros(2, 1, 1)?.pad_with_zeros(3, 1, 1)?;
        let mut x = x.max_pool2d_with_stride(3, 2)?;
        for layer in 1..=4 {
            for block in 0..2 {
                let first = block == 0 && layer > 1;
                x = self.block(
                    &x,
                    &format!("layer{layer}.{block}"),
                    if first { 2 } else { 1 },
                    first,
                    train,
                )?;
            }
        }
        let x = x.mean(D::Minus1)?.mean(D::Minus1)?;
        let w = self.p("fc.weight")?;
        let b = self.p("fc.bias")?;
        Ok(x.matmul(&w.t()?)?.broadcast_add(b)?)
    }

    /// The weights as they are now (trained parameters and updated running statistics).
    pub fn weights(&self) -> Result<Weights, TrainError> {
        let mut out = BTreeMap::new();
        let all = self.params.iter().chain(self.running.iter());
        for (name, t) in all {
            let data = t.flatten_all()?.to_vec1::<f32>()?;
            out.insert(name.clone(), WeightTensor::new(t.dims().to_vec(), data));
        }
        for (name, v) in &self.vars {
            let t = v.as_tensor();
            out.insert(
                name.clone(),
                WeightTensor::new(t.dims().to_vec(), t.flatten_all()?.to_vec1::<f32>()?),
            );
        }
        Weights::from_tensors(out).map_err(|e| TrainError::Compute(e.to_string()))
    }

    fn refresh_params(&mut self) {
        for (name, v) in &self.vars {
            self.params.insert(name.clone(), v.as_tensor().clone());
        }
    }
}

fn batch_tensors(samples: &[&TensorSample], max: &[f64]) -> Result<(Tensor, Tensor), TrainError> {
    let dev = Device::Cpu;
    let side = histoscore_imaging::INPUT_SIZE;
    let x: Vec<f32> = samples
        .iter()
        .flat_map(|s| s.input.iter().copied())
        .collect();
    Ok((
        Tensor::from_vec(x, (samples.len(), 3, side, side), &dev)?,
        crate::train::target_tensor(samples.iter().map(|s| s.targets.as_slice()), max, &dev)?,
    ))
}

/// The validation loss (mean squared error in scaled units) and MAE per metric in score units,
/// in evaluation mode. The MAE is of predictions clipped to the schema's range, as scoring
/// clips them; the loss is not clipped, so that a diverging network shows.
fn validate(
    net: &mut Net,
    samples: &[TensorSample],
    split: &Split,
    max: &[f64],
    max_t: &Tensor,
) -> Result<(f64, Vec<f64>), TrainError> {
    let mut sq = 0.0;
    let mut abs = vec![0.0; max.len()];
    let mut n = 0usize;
    for chunk in split.val.chunks(8) {
        let batch: Vec<&TensorSample> = chunk.iter().map(|&i| &samples[i]).collect();
        let (x, y) = batch_tensors(&batch, max)?;
        let pred = net.forward(&x, false)?;
        sq += f64::from(pred.sub(&y)?.sqr()?.sum_all()?.to_scalar::<f32>()?);
        let a = pred
            .clamp(0f32, 1f32)?
            .sub(&y)?
            .abs()?
            .broadcast_mul(max_t)?
            .sum(0)?
            .to_vec1::<f32>()?;
        for (acc, v) in abs.iter_mut().zip(a) {
            *acc += f64::from(v);
        }
        n += chunk.len();
    }
    Ok((
        sq / (n * max.len()).max(1) as f64,
        abs.iter().map(|a| a / n.max(1) as f64).collect(),
    ))
}

/// Fine-tunes the parameters named by `trainable`; returns the best epoch's weights and the
/// history. Stops with [`TrainError::Diverged`] when the validation error explodes.
#[allow(clippy::too_many_arguments)]
pub fn fine_tune(
    parent: &Weights,
    trainable: &[&str],
    samples: &[TensorSample],
    split: &Split,
    max: &[f64],
    cfg: &crate::train::HeadConfig,
    cancel: &AtomicBool,
    mut on_epoch: impl FnMut(&EpochReport),
) -> Result<(Weights, usize, Vec<EpochReport>), TrainError> {
    if split.train.is_empty() || split.val.is_empty() {
        return Err(TrainError::NotEnoughData(
            "both the training and the validation side need images".into(),
        ));
    }
    let mut net = Net::new(parent, trainable)?;
    if net.head != max.len() {
        return Err(TrainError::Compute(
            "the model's head does not fit the schema".into(),
        ));
    }
    let mut opt = AdamW::new(
        net.vars.iter().map(|(_, v)| v.clone()).collect(),
        ParamsAdamW {
            lr: cfg.learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        },
    )?;
    let max_t = Tensor::from_vec(
        max.iter().map(|m| *m as f32).collect::<Vec<_>>(),
        max.len(),
        &Device::Cpu,
    )?;
    // Where validation starts (the parent's weights): the yardstick for divergence.
    let mut divergence =
        crate::train::Divergence::new(validate(&mut net, samples, split, max, &max_t)?.0);
    let mut rng = Rng::new(cfg.seed);
    let mut order = split.train.clone();
    let mut best: Option<(f64, Weights, usize)> = None;
    let mut history = Vec::new();
    for epoch in 1..=cfg.max_epochs.max(1) {
        rng.shuffle(&mut order);
        let mut total = 0.0;
        let mut batches = 0;
        for chunk in order.chunks(cfg.batch_size.max(2)) {
            if cancel.load(Ordering::Relaxed) {
                return Err(TrainError::Cancelled);
            }
            if chunk.len() < 2 {
                continue; // BatchNorm needs more than one image per batch
            }
            let batch: Vec<&TensorSample> = chunk.iter().map(|&i| &samples[i]).collect();
            let (x, y) = batch_tensors(&batch, max)?;
            let pred = net.forward(&x, true)?;
            let loss = pred.sub(&y)?.sqr()?.mean_all()?;
            opt.backward_step(&loss)?;
            net.refresh_params();
            total += f64::from(loss.to_scalar::<f32>()?);
            batches += 1;
        }
        let (val_loss, val_mae) = validate(&mut net, samples, split, max, &max_t)?;
        let report = EpochReport {
            epoch,
            train_loss: total / batches.max(1) as f64,
            val_loss,
            val_mae,
        };
        on_epoch(&report);
        history.push(report);
        divergence.check(epoch, val_loss)?;
        if best.as_ref().is_none_or(|(l, ..)| val_loss < *l) {
            best = Some((val_loss, net.weights()?, epoch));
        } else if best
            .as_ref()
            .is_some_and(|(.., e)| epoch - e >= cfg.patience.max(1))
        {
            break;
        }
    }
    let (_, weights, best_epoch) =
        best.ok_or_else(|| TrainError::Compute("no epoch ran".into()))?;
    Ok((weights, best_epoch, history))
}

/// `steps` Adam steps of the fine-tune on one fixed batch (no shuffling, no validation): the
/// loss of each step before its update, and the evaluation-mode outputs afterwards. What the
/// PyTorch reference (`scripts/make-finetune-fixture.py`) records, to check one against the
/// other.
pub fn steps_on_batch(
    parent: &Weights,
    trainable: &[&str],
    batch: &[TensorSample],
    max: &[f64],
    learning_rate: f64,
    steps: usize,
) -> Result<(Vec<f64>, Vec<Vec<f32>>), TrainError> {
    let mut net = Net::new(parent, trainable)?;
    let mut opt = AdamW::new(
        net.vars.iter().map(|(_, v)| v.clone()).collect(),
        ParamsAdamW {
            lr: learning_rate,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        },
    )?;
    let refs: Vec<&TensorSample> = batch.iter().collect();
    let (x, y) = batch_tensors(&refs, max)?;
    let mut losses = Vec::with_capacity(steps);
    for _ in 0..steps {
        let loss = net.forward(&x, true)?.sub(&y)?.sqr()?.mean_all()?;
        opt.backward_step(&loss)?;
        net.refresh_params();
        losses.push(f64::from(loss.to_scalar::<f32>()?));
    }
    let after = net.forward(&x, false)?.to_vec2::<f32>()?;
    Ok((losses, after))
}

/// Evaluation-mode outputs of the candle forward pass (to check it against the inference
/// engine).
pub fn eval_outputs(weights: &Weights, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, TrainError> {
    let mut net = Net::new(weights, &[])?;
    let samples: Vec<TensorSample> = inputs
        .iter()
        .map(|i| TensorSample {
            group: String::new(),
            input: i.clone(),
            targets: vec![0.0; weights.head()],
        })
        .collect();
    let max = vec![1.0; weights.head()];
    let mut out = Vec::with_capacity(samples.len());
    // In batches, so that many images do not hold every activation at once.
    for chunk in samples.chunks(16) {
        let refs: Vec<&TensorSample> = chunk.iter().collect();
        let (x, _) = batch_tensors(&refs, &max)?;
        out.extend(net.forward(&x, false)?.to_vec2::<f32>()?);
    }
    Ok(out)
}
