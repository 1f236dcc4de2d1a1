r"""The training loop behind :meth:`Sequential.fit <minidl.nn.model.Sequential.fit>`, ``evaluate``
and ``predict``: mini-batches, shuffling, running loss/accuracy and the progress bar.

Each function takes the model first and uses only its ``forward`` / ``backward`` / ``params`` /
``grads`` / ``train`` / ``eval`` / ``training``, so the loop reads apart from the container.
One training step on a batch :math:`B` is

.. math:: \ell_B = \text{loss}(f(X_B), y_B), \qquad
          \theta \leftarrow \text{optimizer.step}\big(\theta, \partial \ell_B / \partial \theta\big)

and the epoch's reported loss is :math:`\sum_B |B|\, \ell_B / N` (each batch weighted by its
size, so it is the mean over samples).
"""

import contextlib

import numpy as np
from tqdm import tqdm

from minidl._rng import get_rng
from minidl._validation import check_float_array, check_positive_int


def fit(
    model,
    X,
    y,
    epochs,
    batch_size,
    optimizer,
    loss,
    validation_data=None,
    rng=None,
    verbose=True,
    scheduler=None,
    callbacks=(),
):
    r"""Mini-batch training of ``model``; returns the history of each epoch's numbers.

    Each epoch shuffles the samples with ``rng`` (a ``numpy.random.Generator``, an int seed
    or None for the package generator), then for each batch :math:`B`: forward,
    :math:`\ell_B = ` ``loss(out, y_B)``, ``backward(loss.backward())`` and
    ``optimizer.step(params, grads)``. A tqdm bar per epoch (``verbose=False`` hides it)
    shows the running loss and accuracy.

    Returns
    -------
    history : dict of lists, one entry per epoch
        ``loss`` and ``accuracy``: means over the epoch's batches weighted by batch size,
        taken while the weights change (as Keras reports them); ``val_loss`` and
        ``val_accuracy``: :func:`evaluate` on ``validation_data`` after the epoch; ``lr``:
        the learning rate the epoch used; ``batch_loss``: the list of that epoch's batch
        losses, in order (a curve within the epoch). Accuracy (``argmax`` of the logits for
        integer labels, ``logit > 0`` for one binary output) is left out when it is undefined.

    ``scheduler`` (:class:`minidl.optim.StepLR` ...) is stepped after each epoch;
    each of ``callbacks`` is called as ``cb(epoch, logs)`` with that epoch's numbers, and
    training stops early when one returns True.
    """
    X, y = _check_data(X, y, "X", "y", finite=True)
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    callbacks = _check_fit_arguments(optimizer, loss, validation_data, callbacks)
    rng = get_rng(rng)
    model.loss = loss  # evaluate() defaults to it
    history = {}
    for epoch in range(epochs):
        logs = {"lr": getattr(optimizer, "lr", None)}
        bar = tqdm(
            total=-(-len(X) // batch_size),
            desc=f"epoch {epoch + 1}/{epochs}",
            unit="batch",
            disable=not verbose,
            dynamic_ncols=True,
        )
        with bar:
            batch_losses = _train_epoch(model, X, y, rng, batch_size, optimizer, loss, logs, bar)
            if validation_data is not None:
                val_loss, val_acc = model.evaluate(*validation_data, loss, batch_size)
                logs["val_loss"] = val_loss
                if val_acc is not None:
                    logs["val_accuracy"] = val_acc
                bar.set_postfix(_fmt(logs))
        for key, value in logs.items():
            history.setdefault(key, []).append(value)
        history.setdefault("batch_loss", []).append(batch_losses)
        if scheduler is not None:
            scheduler.step()
        if any([bool(cb(epoch, dict(logs))) for cb in callbacks]):
            break
    return history


def _check_fit_arguments(optimizer, loss, validation_data, callbacks):
    """The checks of :func:`fit`'s objects; returns ``callbacks`` as a tuple."""
    if not callable(getattr(optimizer, "step", None)):
        raise TypeError(f"optimizer must have a step(params, grads) method, got {optimizer!r}")
    _check_loss(loss)
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise TypeError("validation_data must be a pair (X_val, y_val)")
        _check_data(*validation_data, "validation_data[0]", "validation_data[1]", finite=True)
    callbacks = () if callbacks is None else tuple(callbacks)
    if any(not callable(cb) for cb in callbacks):
        raise TypeError("callbacks must be callables cb(epoch, logs)")
    return callbacks


def _train_epoch(model, X, y, rng, batch_size, optimizer, loss, logs, bar):
    r"""One pass over the samples shuffled by ``rng``: per batch :math:`B` the step
    :math:`\theta \leftarrow` ``optimizer.step`` :math:`(\theta, \partial \ell_B / \partial
    \theta)`; ``logs`` gets the running loss and accuracy. Returns the batch losses in order."""
    model.train()
    order = rng.permutation(len(X))
    total, correct, seen, batch_losses = 0.0, 0, 0, []
    for start in range(0, len(X), batch_size):
        idx = order[start : start + batch_size]
        out = model.forward(X[idx])
        batch_loss = loss(out, y[idx])
        model.backward(loss.backward(), input_grad=False)
        optimizer.step(model.params, model.grads)
        total += batch_loss * len(idx)
        batch_losses.append(float(batch_loss))
        seen += len(idx)
        hits = _n_correct(out, y[idx])
        correct = None if hits is None or correct is None else correct + hits
        logs["loss"] = total / seen
        if correct is not None:
            logs["accuracy"] = correct / seen
        bar.set_postfix(_fmt(logs), refresh=False)
        bar.update(1)
    return batch_losses


def evaluate(model, X, y, loss=None, batch_size=256):
    """``(mean loss, accuracy)`` of ``model`` over ``(X, y)`` in eval mode (the mode is restored).

    The loss is the batch losses' mean weighted by batch size, which is the mean over all
    samples; accuracy is None where it is undefined (see :func:`fit`). ``loss=None`` takes the
    loss the model was last fitted with (``model.loss``, set by :func:`fit`), else
    cross-entropy for integer class labels, as Keras users expect.
    """
    X, y = _check_data(X, y, "X", "y")
    batch_size = check_positive_int(batch_size, "batch_size")
    loss = _default_loss(model, y) if loss is None else loss
    _check_loss(loss)
    total, correct = 0.0, 0
    with evaluating(model):
        for start in range(0, len(X), batch_size):
            out = model.forward(X[start : start + batch_size])
            yb = y[start : start + batch_size]
            total += loss(out, yb) * len(yb)
            hits = _n_correct(out, yb)
            correct = None if hits is None or correct is None else correct + hits
    return total / len(X), None if correct is None else correct / len(X)


def predict(model, X, batch_size=256):
    """``model``'s outputs (logits) for ``X``, batch by batch in eval mode (restored)."""
    X = check_float_array(X, "X")
    if X.ndim < 1 or len(X) == 0:
        raise ValueError(f"X must hold at least one sample, got shape {X.shape}")
    batch_size = check_positive_int(batch_size, "batch_size")
    with evaluating(model):
        outs = [model.forward(X[s : s + batch_size]) for s in range(0, len(X), batch_size)]
    return np.concatenate(outs)


@contextlib.contextmanager
def evaluating(model):
    """Eval mode inside the block; the previous mode afterwards, even after an error."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        if was_training:
            model.train()


def _check_loss(loss):
    if not callable(loss) or not callable(getattr(loss, "backward", None)):
        raise TypeError(f"loss must be a loss object such as CrossEntropyLoss(), got {loss!r}")


def _default_loss(model, y):
    """The loss ``model`` was fitted with, else cross-entropy for integer class labels."""
    fitted = getattr(model, "loss", None)
    if fitted is not None:
        return fitted
    if np.issubdtype(y.dtype, np.integer) and y.ndim == 1:
        from minidl.nn.losses import CrossEntropyLoss  # lazy: losses import nothing from here

        return CrossEntropyLoss()
    raise TypeError(
        f"loss is needed: the model was not fitted here and y (dtype {y.dtype}, shape "
        f"{y.shape}) is not a vector of integer class labels; pass e.g. loss=MSELoss()"
    )


def _check_data(X, y, xname, yname, finite=False):
    """Float samples X (N, ...) and N targets y: the pair every training routine takes.

    ``finite=True`` (``fit`` and its validation data) also refuses NaN and inf in ``X`` and in
    float targets before anything runs: one NaN in a batch would first be averaged into
    BatchNorm's running statistics and only then make the loss NaN.
    """
    X = check_float_array(X, xname)
    if X.ndim < 1 or len(X) == 0:
        raise ValueError(f"{xname} must hold at least one sample, got shape {X.shape}")
    y = np.asarray(y)
    if y.ndim < 1 or len(y) != len(X):
        raise ValueError(f"{yname} must have one target per sample ({len(X)}), got shape {y.shape}")
    if finite:
        _check_finite(X, xname)
        if np.issubdtype(y.dtype, np.inexact):
            _check_finite(y, yname)
    return X, y


def _check_finite(a, name):
    finite = np.isfinite(a)
    if not finite.all():
        bad = finite.reshape(len(a), -1).all(axis=1)
        first = int(np.argmin(bad))
        raise ValueError(
            f"{name} contains NaN or inf ({a.size - int(finite.sum())} values, the first in "
            f"sample {first}); clean or impute them before fit (a NaN would reach BatchNorm's "
            "running statistics before the loss)"
        )


def _n_correct(out, y):
    """Correct predictions in a batch, or None where accuracy is undefined (regression)."""
    multiclass = out.ndim == 2 and out.shape[1] > 1
    if np.issubdtype(y.dtype, np.integer) and multiclass and y.shape == (len(out),):
        return int(np.sum(np.argmax(out, axis=1) == y))
    if out.size == len(out) and y.size == len(y):  # one logit per sample: binary, logit > 0
        return int(np.sum((out.reshape(-1) > 0) == (y.reshape(-1) > 0.5)))
    return None


def _fmt(logs):
    return {k: f"{v:.4f}" for k, v in logs.items() if k != "lr" and v is not None}
