"""Expected outputs from TensorFlow Lite's reference kernels.

For each model given: N random inputs (fixed seed, the model's input dtype and
shape, batch first) run one by one through ai-edge-litert's interpreter with
the reference op resolver (BUILTIN_REF: the kernels `npu run` must equal bit
for bit, not XNNPACK's), written beside each other as
    <out>/<name>.input.npy   (N, ...model input shape)
    <out>/<name>.expected.npy (N, ...model output shape)

Usage: python scripts/tflite_reference.py --out tests/tflite --count 20 MODEL.tflite...
       python scripts/tflite_reference.py --input X.npy --output Y.npy MODEL.tflite
Run it through scripts/tflite-reference, which makes the virtual environment.
"""
import argparse
import os
import sys

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType


def interpreter(path):
    it = Interpreter(model_path=path, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    it.allocate_tensors()
    return it


def run(it, batch):
    inp = it.get_input_details()[0]
    out = it.get_output_details()[0]
    results = []
    for item in batch:
        it.set_tensor(inp["index"], item[np.newaxis, ...])
        it.invoke()
        results.append(it.get_tensor(out["index"])[0].copy())
    return np.stack(results)


def random_inputs(it, count, seed):
    inp = it.get_input_details()[0]
    shape = (count, *inp["shape"][1:])
    rng = np.random.default_rng(seed)
    if inp["dtype"] == np.int8:
        return rng.integers(-128, 128, size=shape, dtype=np.int8)
    if inp["dtype"] == np.float32:
        return rng.uniform(-4.0, 4.0, size=shape).astype(np.float32)
    sys.exit(f"{inp['dtype']} inputs are not generated")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("models", nargs="+")
    ap.add_argument("--out")
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--input")
    ap.add_argument("--output")
    a = ap.parse_args()
    if a.input:
        it = interpreter(a.models[0])
        np.save(a.output, run(it, np.load(a.input)))
        return
    os.makedirs(a.out, exist_ok=True)
    for path in a.models:
        name = os.path.basename(path).removesuffix(".tflite")
        it = interpreter(path)
        x = random_inputs(it, a.count, a.seed)
        y = run(it, x)
        np.save(os.path.join(a.out, f"{name}.input.npy"), x)
        np.save(os.path.join(a.out, f"{name}.expected.npy"), y)
        print(f"{name}: {x.shape} {x.dtype} -> {y.shape} {y.dtype}")


if __name__ == "__main__":
    main()
