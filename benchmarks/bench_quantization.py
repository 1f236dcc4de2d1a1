"""Time minidl's quantization against PyTorch 2.13 CPU in the same run.

    python benchmarks/bench_quantization.py            # all cases
    python benchmarks/bench_quantization.py --quick    # fewer repeats

Best of ``REPEATS`` wall-clock runs, minidl and PyTorch interleaved so both see the same load
(shared machines: expect 10-30 % noise). float32 throughout.

Cases:
(a) quantize per tensor, 4M values: ``quantize`` vs ``torch.quantize_per_tensor`` (+int_repr);
(b) fake quantization forward + STE backward, 4M values: ``fake_quantize`` (+ backward) vs
    ``torch.fake_quantize_per_tensor_affine`` with autograd;
(c) the article-003 first conv (64 images 1x28x28, 32 filters 3x3) in integers
    (``QuantizedConv2D``: a float32 GEMM on the integer values, exact here, + requantization)
    vs PyTorch's int8 conv (``torch.ao.nn.quantized.Conv2d`` on fbgemm, given minidl's codes
    and scales; the share of equal output codes is printed) and its float ``conv2d``; the float
    minidl ``Conv2D`` forward vs the latter; and the same conv's int accumulator loop twin on 1
    image, to show why it is only a test reference.
"""

import argparse
import warnings

import numpy as np
from timing import best_time, interleaved

REPEATS = 7


def row(name, t_minidl, t_torch):
    print(f"{name:<44s} minidl {t_minidl * 1e3:9.2f} ms   torch {t_torch * 1e3:9.2f} ms   "
          f"ratio {t_minidl / t_torch:6.2f}x")  # fmt: skip


def torch_int8_conv(conv, qconv, img, x_qparams, y_qparams):
    """PyTorch's quantized conv (fbgemm) with minidl's codes: the same per-channel int8 weight
    codes and scales, input and output scales; PyTorch's activations are unsigned, so its zero
    points are minidl's plus 128. Returns the module and the quantized input."""
    import torch
    from torch.ao.nn import quantized as nnq

    torch.backends.quantized.engine = "fbgemm"
    scales = torch.from_numpy(qconv.weight_scale.astype(np.float64))
    w = torch.quantize_per_channel(torch.from_numpy(conv.params["weight"]), scales,
                                   torch.zeros(scales.numel(), dtype=torch.long), 0,
                                   torch.qint8)  # fmt: skip
    assert np.array_equal(w.int_repr().numpy(), qconv.weight_q), "weight codes differ"
    tconv = nnq.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size)
    tconv.set_weight_bias(w, torch.from_numpy(conv.params["bias"]))
    tconv.scale, tconv.zero_point = float(y_qparams[0]), int(y_qparams[1]) + 128
    x = torch.quantize_per_tensor(torch.from_numpy(img), float(x_qparams[0]),
                                  int(x_qparams[1]) + 128, torch.quint8)  # fmt: skip
    return tconv, x


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    repeats = 3 if parser.parse_args().quick else REPEATS

    import torch

    from minidl.compression.int_model import QuantizedConv2D
    from minidl.compression.qat import fake_quantize, fake_quantize_backward
    from minidl.compression.quantization import choose_qparams, quantize
    from minidl.layers.conv import Conv2D

    warnings.filterwarnings("ignore")
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4_000_000,)).astype(np.float32)
    s, z = choose_qparams(x.min(), x.max())
    xt = torch.from_numpy(x)
    t = interleaved(
        [lambda: quantize(x, s, z),
         lambda: torch.quantize_per_tensor(xt, float(s), int(z), torch.qint8).int_repr()],
        repeats,
    )  # fmt: skip
    row("(a) quantize per tensor, 4M float32", *t)

    dy = rng.normal(size=x.shape).astype(np.float32)
    dyt = torch.from_numpy(dy)

    def ours():
        y, mask = fake_quantize(x, s, z)
        return fake_quantize_backward(dy, mask)

    def theirs():
        xg = xt.clone().requires_grad_(True)
        torch.fake_quantize_per_tensor_affine(xg, float(s), int(z), -128, 127).backward(dyt)
        return xg.grad

    row("(b) fake quantize fwd + STE bwd, 4M float32", *interleaved([ours, theirs], repeats))

    conv = Conv2D(1, 32, 3, rng=rng)
    img = rng.uniform(0, 1, size=(64, 1, 28, 28)).astype(np.float32)
    y = conv.forward(img)
    x_qparams, y_qparams = choose_qparams(0.0, 1.0), choose_qparams(y.min(), y.max())
    qconv = QuantizedConv2D(conv, x_qparams, y_qparams)
    q_img = quantize(img, *x_qparams)
    wt, bt = torch.from_numpy(conv.params["weight"]), torch.from_numpy(conv.params["bias"])
    imgt = torch.from_numpy(img)
    tconv, tq_img = torch_int8_conv(conv, qconv, img, x_qparams, y_qparams)
    t_int, t_float, t_torch, t_torch_int = interleaved(
        [lambda: qconv(q_img), lambda: conv.forward(img),
         lambda: torch.nn.functional.conv2d(imgt, wt, bt), lambda: tconv(tq_img)],
        repeats,
    )  # fmt: skip
    row("(c) int8 QuantizedConv2D vs torch int8 conv", t_int, t_torch_int)
    row("    ... vs torch float conv", t_int, t_torch)
    row("    float minidl Conv2D vs torch float conv", t_float, t_torch)
    ours, theirs = qconv(q_img).astype(int), tconv(tq_img).int_repr().numpy().astype(int) - 128
    print(f"    int8 codes equal to fbgemm's: {np.mean(ours == theirs):.2%}, the others off by "
          f"{np.abs(ours - theirs).max()} (fbgemm requantizes in float, minidl as gemmlowp)")
    t_naive = best_time(lambda: qconv.accumulate_naive(q_img[:1]), 1)
    print(f"    int accumulator loop twin, 1 image: {t_naive * 1e3:.0f} ms "
          f"(~{t_naive * 64 / t_int:.0f}x the vectorized int conv for 64 images)")  # fmt: skip


if __name__ == "__main__":
    main()
