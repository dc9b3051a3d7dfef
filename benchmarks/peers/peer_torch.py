"""PyTorch on the CPU, written as a PyTorch user would: ``nn.Sequential``, ``torch.optim``,
a loss on the logits, and the usual ``zero_grad`` / ``backward`` / ``step`` loop.

Initialisation as the workload says (moons-gd's N(0, 0.1²), He-normal elsewhere), float64 for
the moons workloads and float32 for mnist-shaped. Every epoch is reshuffled with
``torch.randperm`` from a seeded generator; the last partial batch is used. PyTorch keeps its
default number of threads (reported in the record).

    python peer_torch.py mnist-shaped [EPOCHS] [--rows N]
"""

from __future__ import annotations

import time

import torch
import workloads as w


def mlp(sizes, dtype, init):
    """relu hidden layers and a linear output layer (the loss applies sigmoid or softmax)."""
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [torch.nn.Linear(n_in, n_out, dtype=dtype), torch.nn.ReLU()]
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


def run_moons_adam(epochs, rows=None):
    X_data, y_data = w.moons_adam_data(rows)
    torch.manual_seed(3)
    X = torch.tensor(X_data, dtype=torch.float64)
    Y = torch.tensor(y_data, dtype=torch.float64).reshape(-1, 1)
    net = mlp(w.MOONS_ADAM_SIZES, torch.float64, he_init)
    opt = torch.optim.Adam(net.parameters(), lr=w.MOONS_ADAM_LEARNING_RATE)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    seconds = train_minibatches(net, opt, loss_fn, X, Y, epochs, w.MOONS_ADAM_BATCH, seed=10)
    with torch.no_grad():
        logits = net(X)[:, 0]
    return seconds, ((logits > 0).numpy() == y_data).mean()


def train_softmax_f32(X_data, y_data, sizes, learning_rate, batch_size, epochs):
    """mnist-shaped and wide-f32: a float32 relu/softmax net, Adam, shuffled mini-batches."""
    torch.manual_seed(0)
    X, Y = torch.from_numpy(X_data), torch.from_numpy(y_data)
    net = mlp(sizes, torch.float32, he_init)
    opt = torch.optim.Adam(net.parameters(), lr=learning_rate)
    loss_fn = torch.nn.CrossEntropyLoss()
    seconds = train_minibatches(net, opt, loss_fn, X, Y, epochs, batch_size, seed=0)
    with torch.no_grad():
        accuracy = (net(X).argmax(dim=1) == Y).double().mean().item()
    return seconds, accuracy


def run_mnist_shaped(epochs, rows=None):
    X, y = w.mnist_shaped_data(rows)
    return train_softmax_f32(X, y, w.MNIST_SIZES, w.MNIST_LEARNING_RATE, w.MNIST_BATCH, epochs)


def run_wide_f32(epochs, rows=None):
    X, y = w.wide_f32_data(rows)
    return train_softmax_f32(X, y, w.WIDE_SIZES, w.WIDE_LEARNING_RATE, w.WIDE_BATCH, epochs)


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
            "moons-adam": run_moons_adam,
            "mnist-shaped": run_mnist_shaped,
            "wide-f32": run_wide_f32,
            "ensemble-64": run_ensemble_64,
        },
        info=lambda: {"threads": torch.get_num_threads()},
    )
