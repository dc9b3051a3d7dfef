"""Gradient clipping (``clip_norm=`` on every optimizer) against torch.nn.utils.clip_grad_norm_
followed by the matching torch.optim step, in float64, several updates long."""

import numpy as np
import pytest
import torch

import fnn
from fnn.registry import OPTIMIZERS

LR, CLIP = 0.05, 0.02

#: fnn config and the torch optimizer taking the same steps (momentum: PyTorch accumulates
#: ``v <- beta v + g``, which is fnn's momentum at ``lr / (1 - beta)``).
PAIRS = {
    "sgd": (fnn.sgd(LR, clip_norm=CLIP), lambda p: torch.optim.SGD(p, lr=LR)),
    "momentum": (
        fnn.momentum(LR / (1 - 0.8), beta=0.8, clip_norm=CLIP),
        lambda p: torch.optim.SGD(p, lr=LR, momentum=0.8),
    ),
    "rmsprop": (
        fnn.rmsprop(LR, beta=0.9, eps=1e-7, clip_norm=CLIP),
        lambda p: torch.optim.RMSprop(p, lr=LR, alpha=0.9, eps=1e-7),
    ),
    "adam": (fnn.adam(LR, clip_norm=CLIP), lambda p: torch.optim.Adam(p, lr=LR)),
    "adamw": (
        fnn.adamw(LR, weight_decay=0.1, clip_norm=CLIP),
        lambda p: torch.optim.AdamW(p, lr=LR, weight_decay=0.1),
    ),
}


def test_every_optimizer_is_covered():
    assert set(PAIRS) == set(OPTIMIZERS)


def problem():
    rng = np.random.default_rng(0)
    net = fnn.mlp([3, 8, 2], hidden="tanh", output="softmax")
    X, y = rng.normal(size=(30, 3)), rng.integers(0, 2, 30)
    # glorot: gradients large enough that all 6 updates are clipped (the test's premise)
    return net, fnn.init(net, key=1, scheme="glorot"), X, y


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_clipped_updates_match_torch(name):
    opt, make_torch_opt = PAIRS[name]
    net, params, X, y = problem()
    l2, steps = 0.3, 6
    Ws = [torch.tensor(layer.W, requires_grad=True) for layer in params.layers]
    bs = [torch.tensor(layer.b, requires_grad=True) for layer in params.layers]
    torch_opt = make_torch_opt([p for pair in zip(Ws, bs) for p in pair])
    state = fnn.opt_init(opt, params)
    norms = []
    for _ in range(steps):
        params, state = fnn.opt_step(opt, params, fnn.grad(net, params, X, y, l2=l2), state)
        torch_opt.zero_grad()
        z = torch.tanh(torch.tensor(X) @ Ws[0] + bs[0]) @ Ws[1] + bs[1]
        data = torch.nn.functional.cross_entropy(z, torch.tensor(y), reduction="sum") / len(y)
        (data + l2 / (2 * len(y)) * sum((W**2).sum() for W in Ws)).backward()
        norms.append(float(torch.nn.utils.clip_grad_norm_(torch_opt.param_groups[0]["params"],
                                                          CLIP)))  # fmt: skip
        torch_opt.step()
    assert min(norms) > 1.5 * CLIP  # every update was clipped: the test exercises the clip
    for layer, W, b in zip(params.layers, Ws, bs):
        np.testing.assert_allclose(layer.W, W.detach().numpy(), rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(layer.b, b.detach().numpy(), rtol=1e-10, atol=1e-13)


def test_a_gradient_below_the_threshold_passes_untouched_bit_for_bit():
    net, params, X, y = problem()
    grads = fnn.grad(net, params, X, y)
    state = fnn.opt_init(fnn.sgd(0.1), params)
    plain = fnn.opt_step(fnn.sgd(0.1), params, grads, state)[0]
    loose = fnn.opt_step(fnn.sgd(0.1, clip_norm=1e6), params, grads, state)[0]
    for a, b in zip(plain.layers, loose.layers):
        np.testing.assert_array_equal(a.W, b.W)
        np.testing.assert_array_equal(a.b, b.b)


def test_the_clipped_step_has_the_clip_norm_as_its_length():
    net, params, X, y = problem()
    grads = fnn.grad(net, params, X, y)
    norm = np.sqrt(sum((part**2).sum() for layer in grads.layers for part in layer))
    state = fnn.opt_init(fnn.sgd(1.0), params)
    new = fnn.opt_step(fnn.sgd(1.0, clip_norm=norm / 4), params, grads, state)[0]
    step = np.sqrt(sum(((a - b) ** 2).sum() for old, upd in zip(params.layers, new.layers)
                       for a, b in zip(old, upd)))  # fmt: skip
    np.testing.assert_allclose(step, norm / 4 * norm / (norm + 1e-6), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fit_with_clipping_keeps_the_dtype_and_differs_from_no_clipping(dtype):
    net, _, X, y = problem()
    params = fnn.init(net, key=1, dtype=dtype)
    clipped = fnn.fit(net, params, fnn.adam(0.1, clip_norm=0.01), X, y, epochs=3, batch_size=8)
    free = fnn.fit(net, params, fnn.adam(0.1), X, y, epochs=3, batch_size=8)
    assert clipped.params.layers[0].W.dtype == dtype
    assert not np.array_equal(clipped.params.layers[0].W, free.params.layers[0].W)
