"""PyTorch on the CPU, written as a PyTorch user would: ``nn.Sequential``, ``torch.optim``,
a loss on the logits, and the usual ``zero_grad`` / ``backward`` / ``step`` loop.

Initialisation, activations and dtype as the workload says (moons-gd's N(0, 0.1²); He-normal,
or W and b uniform within fnn's ``glorot_with_biases`` bound, for the mini-batch workloads).
Every epoch is reshuffled with ``torch.randperm`` from a seeded generator; the last partial
batch is used. PyTorch keeps its default number of threads (reported in the record).

    python peer_torch.py mnist-shaped [EPOCHS] [--rows N]
"""

from __future__ import annotations

import functools
import time

import torch
import workloads as w


def mlp(sizes, dtype, init, hidden="relu"):
    """``hidden`` hidden layers and a linear output layer (the loss applies sigmoid or softmax)."""
    activation = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}[hidden]
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(n_in, n_out, dtype=dtype), activation()]
    net = torch.nn.Sequential(*layers[:-1])
    with torch.no_grad():
        for layer in net:
            if isinstance(layer, torch.nn.Linear):
                init(layer)
    return net


def scaled_init(layer):
    layer.weight.normal_(0.0, w.MOONS_GD_INIT_SCALE)
    layer.bias.normal_(0.0, w.MOONS_GD_INIT_SCALE)


def he_init(layer):
    torch.nn.init.kaiming_normal_(layer.weight, nonlinearity="relu")  # N(0, 2 / n_in)
    layer.bias.zero_()


def glorot_with_biases_init(layer):
    limit = (6.0 / (layer.in_features + layer.out_features)) ** 0.5
    layer.weight.uniform_(-limit, limit)
    layer.bias.uniform_(-limit, limit)


#: The mini-batch workloads' schemes (fnn's names).
INITS = {"he": he_init, "glorot_with_biases": glorot_with_biases_init}


def train_minibatches(net, opt, loss_fn, X, Y, epochs, batch_size, seed):
    """Seconds for ``epochs`` shuffled passes of mini-batch updates."""
    generator = torch.Generator().manual_seed(seed)
    m = X.shape[0]
    started = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(m, generator=generator)
        for start in range(0, m, batch_size):
            rows = order[start : start + batch_size]
            opt.zero_grad()
            loss_fn(net(X[rows]), Y[rows]).backward()
            opt.step()
    return time.perf_counter() - started


def run_moons_gd(epochs, rows=None):
    X_train, X_test, y_train, y_test = w.moons_gd_data(rows)
    torch.manual_seed(2)
    X = torch.tensor(X_train, dtype=torch.float64)
    Y = torch.tensor(y_train, dtype=torch.float64).reshape(-1, 1)
    net = mlp(w.MOONS_GD_SIZES, torch.float64, scaled_init)
    opt = torch.optim.SGD(net.parameters(), lr=w.MOONS_GD_LEARNING_RATE)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    started = time.perf_counter()
    for _ in range(epochs):
        opt.zero_grad()
        loss_fn(net(X), Y).backward()
        opt.step()
    seconds = time.perf_counter() - started
    with torch.no_grad():
        logits = net(torch.tensor(X_test, dtype=torch.float64))[:, 0]
    return seconds, ((logits > 0).numpy() == y_test).mean()


def run_mini_batch(name, epochs, rows=None):
    """A workload of ``w.MINI_BATCH``: Adam on shuffled mini-batches, training accuracy."""
    spec = w.MINI_BATCH[name]
    X_data, y_data = spec.data(rows)
    dtype = getattr(torch, spec.dtype)
    torch.manual_seed(spec.init_key)
    X = torch.tensor(X_data, dtype=dtype)
    if spec.output == "sigmoid":
        Y = torch.tensor(y_data, dtype=dtype).reshape(-1, 1)
        loss_fn = torch.nn.BCEWithLogitsLoss()
    else:
        Y = torch.from_numpy(y_data)
        loss_fn = torch.nn.CrossEntropyLoss()
    net = mlp(spec.sizes, dtype, INITS[spec.scheme], spec.hidden)
    opt = torch.optim.Adam(net.parameters(), lr=spec.learning_rate)
    seconds = train_minibatches(net, opt, loss_fn, X, Y, epochs, spec.batch, spec.shuffle_key)
    with torch.no_grad():
        logits = net(X)
        predicted = logits[:, 0] > 0 if spec.output == "sigmoid" else logits.argmax(dim=1)
    assert net[0].weight.dtype == dtype
    return seconds, (predicted.numpy() == y_data).mean()


def run_ensemble_64(epochs, rows=None):
    """A ``bmm`` ensemble: the 64 members' weights stacked (K, n_in, n_out), one Adam for all.

    Member k shuffles with its own generator (seed k); the loss is the sum over members of
    each member's mean batch loss, so every member gets the gradient it would get alone.
    """
    X_data, y_data = w.moons_adam_data(rows)
    K, sizes, dtype = w.ENSEMBLE_MEMBERS, w.MOONS_ADAM_SIZES, torch.float64
    torch.manual_seed(3)
    X = torch.tensor(X_data, dtype=dtype)
    Y = torch.tensor(y_data, dtype=dtype)
    Ws = [
        (torch.randn(K, n_in, n_out, dtype=dtype) * (2.0 / n_in) ** 0.5).requires_grad_()
        for n_in, n_out in zip(sizes[:-1], sizes[1:])
    ]
    bs = [torch.zeros(K, 1, n_out, dtype=dtype, requires_grad=True) for n_out in sizes[1:]]
    opt = torch.optim.Adam(Ws + bs, lr=w.MOONS_ADAM_LEARNING_RATE)
    generators = [torch.Generator().manual_seed(k) for k in range(K)]
    m, batch_size = X.shape[0], w.MOONS_ADAM_BATCH

    def logits(A):
        for W, b in zip(Ws[:-1], bs[:-1]):
            A = torch.relu(torch.baddbmm(b, A, W))
        return torch.baddbmm(bs[-1], A, Ws[-1])[..., 0]

    started = time.perf_counter()
    for _ in range(epochs):
        orders = torch.stack([torch.randperm(m, generator=g) for g in generators])
        for start in range(0, m, batch_size):
            rows = orders[:, start : start + batch_size]  # (K, batch)
            losses = torch.nn.functional.binary_cross_entropy_with_logits(
                logits(X[rows]), Y[rows], reduction="none"
            )
            opt.zero_grad()
            losses.mean(dim=1).sum().backward()
            opt.step()
    seconds = time.perf_counter() - started
    with torch.no_grad():
        predicted = (logits(X.expand(K, -1, -1)) > 0).numpy()
    return seconds, (predicted == y_data).mean()


if __name__ == "__main__":
    w.main(
        "torch",
        {
            "moons-gd": run_moons_gd,
            "ensemble-64": run_ensemble_64,
            **{name: functools.partial(run_mini_batch, name) for name in w.MINI_BATCH},
        },
        info=lambda: {"threads": torch.get_num_threads()},
    )
