r"""Knowledge distillation (Hinton, Vinyals & Dean 2015): a student learns from a teacher's
softened outputs as well as from the labels.

With student logits :math:`s`, teacher logits :math:`t`, temperature :math:`T` and weight
:math:`\alpha`, averaged over the :math:`N` samples of the batch ((1.11) in chapter 01,
``chapters/01_complexity_and_spatiotemporal_convolution.ipynb``; (4.7) in chapter 04,
``chapters/04_cnn_optimization.ipynb``):

.. math::

    L = \alpha\, T^2\, \mathrm{KL}\big(p^t \,\|\, p^s\big) + (1 - \alpha)\,\mathrm{CE}(s, y),
    \qquad p^t = \mathrm{softmax}(t / T),\; p^s = \mathrm{softmax}(s / T),   \qquad (1.11)

    \mathrm{KL}(p^t \| p^s) = \sum_k p^t_k (\log p^t_k - \log p^s_k).

The KL runs from the teacher to the student (the teacher's distribution is the "true" one, as
the cross entropy's target); PyTorch's ``F.kl_div(F.log_softmax(s / T), F.softmax(t / T),
reduction='batchmean')`` is exactly this term (its first argument is the student's *log*
probabilities, its second the teacher's probabilities). The gradient with respect to the
student logits is

.. math:: \frac{\partial L}{\partial s} = \frac{1}{N}\Big(\alpha\, T\, (p^s - p^t)
          + (1 - \alpha)(\mathrm{softmax}(s) - \mathrm{onehot}(y))\Big)              (1.12)

(:math:`\partial p^s / \partial s` brings :math:`1/T`, hence :math:`T^2 / T = T`); the
:math:`T^2` keeps the soft term's gradient on the scale of the hard term's as :math:`T` grows.
"""

import numbers

import numpy as np

from minidl._validation import check_fraction
from minidl.functional.activations import log_softmax
from minidl.nn.losses import CrossEntropyLoss, Loss, check_logits


def _temperature(T):
    if isinstance(T, bool) or not isinstance(T, numbers.Real) or not np.isfinite(T) or T <= 0:
        raise ValueError(f"T (temperature) must be a finite number > 0, got {T!r}")
    return float(T)


def distillation_targets(labels, teacher_logits):
    """Pack labels and teacher logits into one structured array, row-aligned with ``X``.

    ``Sequential.fit`` indexes its targets batch by batch (``y[idx]``), so this lets
    ``model.fit(X, distillation_targets(y, teacher.predict(X)), ..., loss=DistillationLoss())``
    hand each batch its own teacher outputs. Fields: ``'label'`` (int64), ``'teacher'``.
    """
    labels = np.asarray(labels)
    t = check_logits(teacher_logits, "teacher_logits", "distillation_targets", ndim=2)
    if labels.shape != (len(t),):
        raise ValueError(
            f"labels must have shape ({len(t)},) to match teacher_logits "
            f"{t.shape}, got {labels.shape}"
        )
    out = np.empty(len(t), dtype=[("label", np.int64), ("teacher", t.dtype, (t.shape[1],))])
    out["label"], out["teacher"] = labels, t
    return out


class DistillationLoss(Loss):
    r"""Hinton et al.'s loss (1.11)/(4.7) (module docstring) with :class:`minidl.nn.losses` API.

    ``loss = crit(student_logits, target)`` where ``target`` is either the structured array of
    :func:`distillation_targets` or a pair ``(teacher_logits, labels)``; ``crit.backward()``
    returns :math:`\partial L / \partial s` (1.12) (already divided by N).

    Parameters
    ----------
    T : float > 0
        Temperature (Hinton et al. use 1-20; 2-5 is common for small nets).
    alpha : float in [0, 1]
        Weight of the soft (teacher) term; ``alpha=0`` is plain cross entropy.
    """

    def __init__(self, T=4.0, alpha=0.9):
        super().__init__()
        self.T = _temperature(T)
        self.alpha = check_fraction(alpha, "alpha")
        self._ce = CrossEntropyLoss()

    def forward(self, logits, target):
        s = check_logits(logits, "logits", "DistillationLoss", ndim=2)
        if isinstance(target, np.ndarray) and target.dtype.names == ("label", "teacher"):
            t, y = target["teacher"], target["label"]
        elif isinstance(target, (tuple, list)) and len(target) == 2:
            t, y = target
        else:
            raise TypeError(
                "DistillationLoss target must be distillation_targets(labels, "
                f"teacher_logits) or a pair (teacher_logits, labels), got "
                f"{type(target).__name__}"
            )
        t = check_logits(t, "teacher_logits", "DistillationLoss", ndim=2)
        if t.shape != s.shape:
            raise ValueError(
                f"DistillationLoss teacher_logits must have the student logits' "
                f"shape {s.shape}, got {t.shape}"
            )
        t = t.astype(s.dtype, copy=False)
        n, T, a = len(s), self.T, self.alpha
        log_ps, log_pt = log_softmax(s / T), log_softmax(t / T)
        pt = np.exp(log_pt)
        kl = np.sum(pt * (log_pt - log_ps)) / n
        ce = self._ce(s, y)
        self._cache = (np.exp(log_ps), pt, n)
        return float(a * T * T * kl + (1 - a) * ce)

    def backward(self):
        """:math:`\\frac1N(\\alpha T (p^s - p^t) + (1-\\alpha)(\\mathrm{softmax}(s) - y))`."""
        ps, pt, n = self._cached()
        soft = (ps - pt) * (self.alpha * self.T / n)
        hard = self._ce.backward() * (1 - self.alpha)
        return (soft + hard).astype(ps.dtype, copy=False)

    def __repr__(self):
        return f"DistillationLoss(T={self.T}, alpha={self.alpha})"


def distillation_loss_naive(student_logits, teacher_logits, labels, T, alpha):
    """The same loss as plain loops over samples and classes (readable twin)."""
    import math

    n, k = np.shape(student_logits)
    total = 0.0
    for i in range(n):
        s = [float(v) for v in student_logits[i]]
        t = [float(v) for v in teacher_logits[i]]

        def log_softmax_row(z):
            m = max(z)
            lse = m + math.log(sum(math.exp(v - m) for v in z))
            return [v - lse for v in z]

        ls, lt, l1 = (
            log_softmax_row([v / T for v in s]),
            log_softmax_row([v / T for v in t]),
            (log_softmax_row(s)),
        )
        kl = sum(math.exp(lt[c]) * (lt[c] - ls[c]) for c in range(k))
        total += alpha * T * T * kl - (1 - alpha) * l1[int(labels[i])]
    return total / n
