//! Training the 64-32-10 MLP in floating point and quantizing it to INT8.
//!
//! Deterministic: a fixed seed for the initial weights and the shuffles, and
//! plain `f32` arithmetic in a fixed order, so the same build writes the
//! same weight file.
//!
//! Quantization (per tensor, symmetric weights, zero points 0):
//! - input: the pixel values themselves (scale 1/16: the network is trained
//!   on pixel / 16), exact in INT8;
//! - weights: scale max|W| / 127, rounded;
//! - biases: INT32 at the accumulator's scale (input scale x weight scale);
//! - hidden layer: ReLU output scale from its largest value on the training
//!   images; the hardware requantizes layer 1's accumulators into it with
//!   a Q31 multiplier and shift, clamped to 0..127 (the ReLU);
//! - output: layer 2's INT32 accumulators plus bias; the class is the arg max.

use super::dataset::{Digits, CLASSES, PIXELS};
use super::model::QuantizedMlp;
use npu_spec::requant::quantize_scale;
use npu_spec::rng::XorShift;

/// Hidden units.
pub const HIDDEN: usize = 32;

/// How the float network is trained.
#[derive(Debug, Clone, Copy)]
pub struct TrainOptions {
    pub epochs: usize,
    pub batch: usize,
    pub learning_rate: f32,
    pub momentum: f32,
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self { epochs: 60, batch: 16, learning_rate: 0.05, momentum: 0.9, seed: 2026 }
    }
}

/// The float network: w1 is 64 x 32 (input-major), w2 is 32 x 10.
#[derive(Debug, Clone)]
pub struct FloatMlp {
    pub w1: Vec<f32>,
    pub b1: Vec<f32>,
    pub w2: Vec<f32>,
    pub b2: Vec<f32>,
}

fn input(d: &Digits, i: usize) -> [f32; PIXELS] {
    std::array::from_fn(|p| f32::from(d.pixels.get(i, p) as u8) / 16.0)
}

impl FloatMlp {
    fn hidden(&self, x: &[f32; PIXELS]) -> [f32; HIDDEN] {
        std::array::from_fn(|h| (self.b1[h] + (0..PIXELS).map(|p| x[p] * self.w1[p * HIDDEN + h]).sum::<f32>()).max(0.0))
    }

    fn logits(&self, hid: &[f32; HIDDEN]) -> [f32; CLASSES] {
        std::array::from_fn(|c| self.b2[c] + (0..HIDDEN).map(|h| hid[h] * self.w2[h * CLASSES + c]).sum::<f32>())
    }

    /// Test-split accuracy of the float network.
    pub fn accuracy(&self, d: &Digits, test: bool) -> f64 {
        let idx: Vec<usize> = (0..d.len()).filter(|&i| Digits::is_test(i) == test).collect();
        let right = idx.iter().filter(|&&i| argmax(&self.logits(&self.hidden(&input(d, i)))) == usize::from(d.labels[i])).count();
        right as f64 / idx.len() as f64
    }
}

pub fn argmax<T: PartialOrd + Copy>(v: &[T]) -> usize {
    let mut best = 0;
    for (i, &x) in v.iter().enumerate() {
        if x > v[best] {
            best = i;
        }
    }
    best
}

/// Trains on the training split with softmax cross-entropy and momentum SGD.
// Index loops: the gradient formulas read best with the indices written out.
#[allow(clippy::needless_range_loop)]
pub fn train_float(d: &Digits, o: &TrainOptions) -> FloatMlp {
    let mut rng = XorShift::new(o.seed);
    let a1 = (6.0 / PIXELS as f32).sqrt();
    let a2 = (6.0 / HIDDEN as f32).sqrt();
    let mut net = FloatMlp {
        w1: (0..PIXELS * HIDDEN).map(|_| rng.uniform() * a1).collect(),
        b1: vec![0.0; HIDDEN],
        w2: (0..HIDDEN * CLASSES).map(|_| rng.uniform() * a2).collect(),
        b2: vec![0.0; CLASSES],
    };
    let mut vel = FloatMlp { w1: vec![0.0; net.w1.len()], b1: vec![0.0; HIDDEN], w2: vec![0.0; net.w2.len()], b2: vec![0.0; CLASSES] };
    let mut order: Vec<usize> = (0..d.len()).filter(|&i| !Digits::is_test(i)).collect();
    for _ in 0..o.epochs {
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i as u64 + 1) as usize);
        }
        for batch in order.chunks(o.batch) {
            let mut g = FloatMlp { w1: vec![0.0; net.w1.len()], b1: vec![0.0; HIDDEN], w2: vec![0.0; net.w2.len()], b2: vec![0.0; CLASSES] };
            for &i in batch {
                let x = input(d, i);
                let h = net.hidden(&x);
                let z = net.logits(&h);
                let max = z.iter().copied().fold(f32::MIN, f32::max);
                let e: Vec<f32> = z.iter().map(|v| (v - max).exp()).collect();
                let sum: f32 = e.iter().sum();
                // dL/dz = softmax - one-hot.
                let dz: Vec<f32> = (0..CLASSES).map(|c| e[c] / sum - if c == usize::from(d.labels[i]) { 1.0 } else { 0.0 }).collect();
                let mut dh = [0f32; HIDDEN];
                for hh in 0..HIDDEN {
                    for c in 0..CLASSES {
                        g.w2[hh * CLASSES + c] += h[hh] * dz[c];
                        dh[hh] += net.w2[hh * CLASSES + c] * dz[c];
                    }
                    if h[hh] <= 0.0 {
                        dh[hh] = 0.0;
                    }
                }
                for c in 0..CLASSES {
                    g.b2[c] += dz[c];
                }
                for p in 0..PIXELS {
                    if x[p] != 0.0 {
                        for hh in 0..HIDDEN {
                            g.w1[p * HIDDEN + hh] += x[p] * dh[hh];
                        }
                    }
                }
                for hh in 0..HIDDEN {
                    g.b1[hh] += dh[hh];
                }
            }
            let scale = o.learning_rate / batch.len() as f32;
            let step = |w: &mut Vec<f32>, v: &mut Vec<f32>, g: &Vec<f32>| {
                for ((w, v), g) in w.iter_mut().zip(v.iter_mut()).zip(g) {
                    *v = o.momentum * *v - scale * g;
                    *w += *v;
                }
            };
            step(&mut net.w1, &mut vel.w1, &g.w1);
            step(&mut net.b1, &mut vel.b1, &g.b1);
            step(&mut net.w2, &mut vel.w2, &g.w2);
            step(&mut net.b2, &mut vel.b2, &g.b2);
        }
    }
    net
}

fn quantize_weights(w: &[f32]) -> (Vec<i8>, f64) {
    let max = w.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
    let scale = f64::from(max) / 127.0;
    (w.iter().map(|&v| (f64::from(v) / scale).round().clamp(-127.0, 127.0) as i8).collect(), scale)
}

/// Quantizes a trained float network (see the module's rules).
pub fn quantize(net: &FloatMlp, d: &Digits) -> QuantizedMlp {
    let input_scale = 1.0 / 16.0;
    let (w1, s_w1) = quantize_weights(&net.w1);
    let (w2, s_w2) = quantize_weights(&net.w2);
    let acc1_scale = input_scale * s_w1;
    let b1: Vec<i32> = net.b1.iter().map(|&b| (f64::from(b) / acc1_scale).round() as i32).collect();
    // Hidden scale: the largest ReLU output on the training images.
    let max_hidden = (0..d.len())
        .filter(|&i| !Digits::is_test(i))
        .flat_map(|i| net.hidden(&input(d, i)))
        .fold(0f32, f32::max)
        .max(1e-6);
    let hidden_scale = f64::from(max_hidden) / 127.0;
    let (multiplier, shift) = quantize_scale(acc1_scale / hidden_scale).expect("layer 1's scale is below 1 for these weights");
    let acc2_scale = hidden_scale * s_w2;
    let b2: Vec<i32> = net.b2.iter().map(|&b| (f64::from(b) / acc2_scale).round() as i32).collect();
    QuantizedMlp { inputs: PIXELS, hidden: HIDDEN, outputs: CLASSES, w1, b1, multiplier, shift, w2, b2 }
}

/// Trains and quantizes with `o`; also returns the float network's test accuracy.
pub fn train(d: &Digits, o: &TrainOptions) -> (QuantizedMlp, f64) {
    let net = train_float(d, o);
    let acc = net.accuracy(d, true);
    (quantize(&net, d), acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_rewrites_the_shipped_weights_and_they_classify() {
        let d = Digits::load().unwrap();
        let (mlp, float_accuracy) = train(&d, &TrainOptions::default());
        assert_eq!(mlp, QuantizedMlp::shipped(), "`npu train digits -o data/digits/mlp-64-32-10.toml` must be rerun");
        assert!(float_accuracy > 0.95, "{float_accuracy}");
        let classes = mlp.reference(&d.pixels).classes();
        let test: Vec<usize> = (0..d.len()).filter(|&i| Digits::is_test(i)).collect();
        let right = test.iter().filter(|&&i| classes[i] == usize::from(d.labels[i])).count();
        assert!(right as f64 / test.len() as f64 > 0.95, "{right}/{}", test.len());
    }
}
