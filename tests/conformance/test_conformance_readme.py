"""The README's "Checking your implementation" example, run as written: a student's loop
conv2d passes every case; the same code with the kernel flipped (article 002's convolution sum
taken literally) fails every case with that diagnosis."""

import textwrap

from minidl.check import main

STUDENT = textwrap.dedent(
    '''
    import numpy as np


    def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        """y[n, o, i, j] = b[o] + sum_{c,p,q} x[n, c, s*i + d*p, s*j + d*q] * w[o, c, p, q]"""
        (sh, sw), (ph, pw), (dh, dw) = (np.broadcast_to(v, 2) for v in (stride, padding, dilation))
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        n, c, h, w = x.shape
        c_out, c_g, kh, kw = weight.shape
        oh, ow = (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1
        y = np.zeros((n, c_out, oh, ow))
        for o in range(c_out):
            g = o // (c_out // groups)  # the group of output channel o
            xg = x[:, g * c_g : (g + 1) * c_g]
            for i in range(oh):
                for j in range(ow):
                    win = xg[:, :, i * sh : i * sh + dh * (kh - 1) + 1 : dh,
                                   j * sw : j * sw + dw * (kw - 1) + 1 : dw]
                    y[:, o, i, j] = np.sum(win * weight[o], axis=(1, 2, 3))
            if bias is not None:
                y[:, o] += bias[o]
        return y
    '''
)


def test_readme_example(tmp_path, capsys):
    good = tmp_path / "my_conv.py"
    good.write_text(STUDENT)
    args = ["--case", "conv2d", "--adapter", "explicit_padding"]
    assert main([f"{good}:conv2d", *args]) == 0
    assert "12/12 cases pass" in capsys.readouterr().out

    # without the adapter, np.broadcast_to('same', 2) fails: ERROR rows that say what to do
    assert main([f"{good}:conv2d", "--case", "conv2d"]) == 1
    out = capsys.readouterr().out
    assert "8/12 cases pass" in out and "use the explicit_padding adapter" in out

    flipped = tmp_path / "my_conv_flipped.py"
    flipped.write_text(STUDENT.replace("win * weight[o]", "win * weight[o, :, ::-1, ::-1]"))
    assert main([f"{flipped}:conv2d", *args]) == 1
    out = capsys.readouterr().out
    assert "0/12 cases pass" in out and out.count("kernel flipped") == 12
