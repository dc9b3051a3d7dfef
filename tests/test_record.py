"""Models that carry their training record: fnn.save(..., opt=, settings=, history=) and
fnn.load_record; a state saved with its optimizer refuses other hyperparameters; archives
without a record (all that older versions wrote) load as before; malformed records are a
ValueError."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

import fnn

rng = np.random.default_rng(11)
X = rng.normal(size=(60, 3))
Y = (X[:, 0] - X[:, 1] ** 2 + rng.normal(scale=0.5, size=60) > -0.5).astype(int)
X_VAL, Y_VAL = X[45:], Y[45:]
X, Y = X[:45], Y[:45]
NET = fnn.mlp([3, 6, 1], hidden="tanh")
OPT = fnn.adam(fnn.warmup(fnn.cosine_decay(0.05, decay_steps=200), steps=10), clip_norm=5.0)
SETTINGS = fnn.FitSettings(
    epochs=12, batch_size=8, key=np.random.SeedSequence(2024, spawn_key=(3,)), l2=1e-3,
    early_stopping=fnn.early_stopping(patience=30, monitor="val_accuracy"),
    reduce_on_plateau=fnn.reduce_on_plateau(factor=0.5, patience=2),
)  # fmt: skip


def bits(params):
    return b"".join(part.tobytes() for layer in params.layers for part in layer)


def trained(settings=SETTINGS, opt=OPT):
    return fnn.fit(NET, fnn.init(NET, key=0), opt, X, Y, validation=(X_VAL, Y_VAL),
                   **settings._asdict())  # fmt: skip


def meta_of(path):
    with np.load(path, allow_pickle=False) as archive:
        return json.loads(str(archive["fnn_meta"])), sorted(archive.files)


def test_the_record_round_trips_and_retrains_the_same_bits(tmp_path):
    result = trained()
    path = tmp_path / "model.npz"
    fnn.save(path, NET, result.params, result.opt_state, opt=OPT, settings=SETTINGS,
             history=result.history)  # fmt: skip
    record = fnn.load_record(path)
    assert isinstance(record, fnn.TrainingRecord)
    assert record.opt == OPT and type(record.opt.learning_rate) is type(OPT.learning_rate)
    settings = record.settings
    assert settings._replace(key=None) == SETTINGS._replace(key=None)
    key = settings.key
    assert (key.entropy, key.spawn_key, key.pool_size) == (2024, (3,), 4)
    for field in ("loss", "accuracy", "val_loss", "val_accuracy", "monitor"):
        saved, loaded = getattr(result.history, field), getattr(record.history, field)
        assert saved.tobytes() == loaded.tobytes() and loaded.dtype == np.float64
        assert not loaded.flags.writeable
    assert record.history.params_epoch == result.history.params_epoch
    assert record.history.stopped_epoch == result.history.stopped_epoch
    # The record is enough to train the same model again, bit for bit.
    again = fnn.fit(NET, fnn.init(NET, key=0), record.opt, X, Y, validation=(X_VAL, Y_VAL),
                    **settings._asdict())  # fmt: skip
    assert bits(again.params) == bits(result.params) == bits(fnn.load(path)[1])


def test_a_record_lives_beside_scalers_with_names_and_classes(tmp_path):
    """Every part of an archive at once: each load_* gives back its own, bit for bit."""
    labels = np.where(np.concatenate([Y, Y_VAL]) == 1, "yes", "no")
    codes, classes = fnn.encode_labels(labels)
    x_scaler = fnn.standardizer(np.concatenate([X, X_VAL]))._replace(
        feature_names=("width", "height", "depth")
    )
    Xs, Xs_val = fnn.standardize(x_scaler, X), fnn.standardize(x_scaler, X_VAL)
    result = fnn.fit(NET, fnn.init(NET, key=0), OPT, Xs, codes[:45], validation=(Xs_val, codes[45:]),
                     **SETTINGS._asdict())  # fmt: skip
    path = tmp_path / "everything.npz"
    fnn.save(path, NET, result.params, result.opt_state, x_scaler=x_scaler, classes=classes,
             opt=OPT, settings=SETTINGS, history=result.history)  # fmt: skip
    meta, files = meta_of(path)
    assert meta["x_scaler"] is meta["x_feature_names"] is meta["classes"] is True
    assert {"opt", "settings", "history"} <= set(meta)
    assert {"x_feature_names", "classes", "history_monitor"} <= set(files)
    net, params = fnn.load(path)
    assert net == NET and bits(params) == bits(result.params)
    state = fnn.load_state(path)
    assert state.config == OPT and state.step == result.opt_state.step
    assert bits(state.slots[0]) == bits(result.opt_state.slots[0])
    loaded_x, loaded_y = fnn.load_scalers(path)
    assert loaded_y is None and loaded_x.feature_names == x_scaler.feature_names
    assert loaded_x.mean.tobytes() == x_scaler.mean.tobytes()
    loaded_classes = fnn.load_classes(path)
    assert loaded_classes.dtype == classes.dtype and loaded_classes.tolist() == ["no", "yes"]
    record = fnn.load_record(path)
    assert record.opt == OPT and record.settings._replace(key=None) == SETTINGS._replace(key=None)
    assert record.history.loss.tobytes() == result.history.loss.tobytes()
    assert record.history.params_epoch == result.history.params_epoch
    # and the loaded parts predict the labels as the trained model did
    predicted = fnn.decode_labels(fnn.predict(net, params, fnn.standardize(loaded_x, X_VAL)),
                                  loaded_classes)  # fmt: skip
    expected = classes[fnn.predict(NET, result.params, Xs_val)]
    assert predicted.tolist() == expected.tolist()
    # a missing member of either feature is refused, naming it
    _edited(path, classes=None)
    with pytest.raises(ValueError, match=r"missing entries \['classes'\]"):
        fnn.load_record(path)


def test_a_history_with_a_monitored_function_keeps_its_values(tmp_path):
    def monitor(net, params, X_val, y_val):
        return fnn.accuracy(net, params, X_val, y_val) - fnn.loss(net, params, X_val, y_val)

    stopper = fnn.early_stopping(patience=50, monitor=monitor, mode="max")
    result = fnn.fit(NET, fnn.init(NET), fnn.adam(0.05), X, Y, epochs=6,
                     validation=(X_VAL, Y_VAL), early_stopping=stopper)  # fmt: skip
    path = tmp_path / "model.npz"
    fnn.save(path, NET, result.params, history=result.history)
    history = fnn.load_record(path).history
    assert len(history.monitor) == 6
    np.testing.assert_array_equal(history.monitor, result.history.monitor)


@pytest.mark.parametrize(
    "opt",
    [fnn.sgd(fnn.step_decay(0.1, 0.5, 7)), fnn.momentum(0.05, beta=0.8),
     fnn.rmsprop(fnn.one_cycle(0.02, total_steps=40)), fnn.adamw(0.01, weight_decay=0.1),
     fnn.adam(fnn.exponential_decay(0.01, 0.9, 6, staircase=True)),
     fnn.sgd(fnn.inverse_time_decay(0.1, 0.5, 4))],
    ids=lambda opt: type(opt).__name__,
)  # fmt: skip
def test_a_state_saved_with_its_optimizer_resumes_bit_for_bit_and_refuses_another(tmp_path, opt):
    options = dict(batch_size=8, key=4)
    whole = fnn.fit(NET, fnn.init(NET), opt, X, Y, epochs=6, **options)
    first = fnn.fit(NET, fnn.init(NET), opt, X, Y, epochs=3, **options)
    path = tmp_path / "checkpoint.npz"
    fnn.save(path, NET, first.params, first.opt_state, opt=opt)
    state = fnn.load_state(path)
    assert state.config == opt and first.opt_state.config is None
    resumed = fnn.fit(NET, fnn.load(path)[1], opt, X, Y, epochs=3, opt_state=state, **options)
    assert bits(resumed.params) == bits(whole.params)
    assert resumed.opt_state.config == opt  # passed on, so the next resume is checked too

    other = opt._replace(learning_rate=0.123)
    saved, given = repr(opt), repr(other)
    with pytest.raises(ValueError) as refused:
        fnn.fit(NET, first.params, other, X, Y, epochs=1, opt_state=state)
    message = str(refused.value)
    assert saved in message and given in message and "learning_rate: saved" in message
    assert "opt_state._replace(config=None)" in message
    grads = fnn.grad(NET, first.params, X, Y)
    with pytest.raises(ValueError, match=r"opt must be the optimizer state was saved with"):
        fnn.opt_step(other, first.params, grads, state)
    # On purpose: without the config, other hyperparameters are accepted, as before.
    fnn.fit(NET, first.params, other, X, Y, epochs=1, opt_state=state._replace(config=None))
    stepped = fnn.opt_step(opt, first.params, grads, state)[1]
    assert stepped.config == opt


def test_a_loaded_state_keeps_its_optimizer_through_fit_and_save(tmp_path):
    opt = fnn.adam(0.02, b2=0.99)
    first = fnn.fit(NET, fnn.init(NET), opt, X, Y, epochs=2)
    path = tmp_path / "checkpoint.npz"
    fnn.save(path, NET, first.params, first.opt_state, opt=opt)
    later = fnn.fit(NET, first.params, opt, X, Y, epochs=2, opt_state=fnn.load_state(path))
    fnn.save(path, NET, later.params, later.opt_state)  # no opt=: the state's config is saved
    assert fnn.load_record(path).opt == opt and fnn.load_state(path).config == opt
    with pytest.raises(ValueError, match="b2: saved 0.99, given 0.999"):
        fnn.save(path, NET, later.params, later.opt_state, opt=fnn.adam(0.02))


def test_fit_many_checks_each_members_saved_optimizer(tmp_path):
    opt = fnn.sgd(0.1)
    first = fnn.fit(NET, fnn.init(NET), opt, X, Y, epochs=1)
    path = tmp_path / "checkpoint.npz"
    fnn.save(path, NET, first.params, first.opt_state, opt=opt)
    state = fnn.load_state(path)
    results = fnn.fit_many(NET, [first.params] * 2, opt, X, Y, epochs=2, opt_states=[state] * 2,
                           keys=[0, 0])  # fmt: skip
    alone = fnn.fit(NET, first.params, opt, X, Y, epochs=2, opt_state=state)
    assert all(bits(r.params) == bits(alone.params) for r in results)
    assert all(r.opt_state.config == opt for r in results)
    with pytest.raises(ValueError, match="member 1: opt must be the optimizer opt_state was saved"):
        fnn.fit_many(NET, [first.params] * 2, [opt, fnn.sgd(0.2)], X, Y, epochs=1,
                     opt_states=[state] * 2)  # fmt: skip


def test_lbfgs_and_int_keys_are_recorded(tmp_path):
    opt = fnn.lbfgs(memory=5)
    settings = fnn.FitSettings(epochs=20, key=7)
    result = fnn.fit(NET, fnn.init(NET), opt, X, Y, **settings._asdict())
    path = tmp_path / "model.npz"
    fnn.save(path, NET, result.params, opt=opt, settings=settings, history=result.history)
    record = fnn.load_record(path)
    assert record.opt == opt and record.settings == settings
    assert record.history.loss.tobytes() == result.history.loss.tobytes()


def test_each_part_of_the_record_is_optional(tmp_path):
    path = tmp_path / "model.npz"
    params = fnn.init(NET)
    fnn.save(path, NET, params, settings=fnn.FitSettings(epochs=3))
    assert fnn.load_record(path) == fnn.TrainingRecord(None, fnn.FitSettings(epochs=3), None)
    meta, files = meta_of(path)
    assert "opt" not in meta and "history" not in meta
    assert not any(name.startswith("history_") for name in files)
    fnn.save(path, NET, params)
    assert fnn.load_record(path) == fnn.TrainingRecord(None, None, None)


def test_an_archive_as_older_versions_wrote_it_loads_and_resumes_as_before(tmp_path):
    """Written by hand as fnn wrote archives before the training record: metadata without
    'opt', 'settings' or 'history', an Adam state with a plateau watcher."""
    params = fnn.init(NET, key=5)
    state = fnn.fit(NET, params, fnn.adam(0.01), X, Y, epochs=2, validation=(X_VAL, Y_VAL),
                    reduce_on_plateau=fnn.reduce_on_plateau()).opt_state  # fmt: skip
    meta = {"format": "fnn", "version": 1, "sizes": [3, 6, 1], "activations": ["tanh", "sigmoid"],
            "loss": "bce", "dtype": "float64", "optimizer": "adam", "step": state.step,
            "plateau": list(state.plateau)}  # fmt: skip
    arrays = {"fnn_meta": np.array(json.dumps(meta))}
    for prefix, tree in [("", params), *((f"s{k}_", slot) for k, slot in enumerate(state.slots))]:
        for index, layer in enumerate(tree.layers):
            arrays[f"{prefix}W{index}"], arrays[f"{prefix}b{index}"] = layer.W, layer.b
    path = tmp_path / "old.npz"
    np.savez(path, **arrays)

    net, loaded = fnn.load(path)
    assert net == NET and bits(loaded) == bits(params)
    assert fnn.load_record(path) == fnn.TrainingRecord(None, None, None)
    old_state = fnn.load_state(path)
    assert old_state.config is None and old_state.plateau == state.plateau
    # No optimizer was saved, so any resumes, as it always did.
    fnn.fit(net, loaded, fnn.adam(0.5), X, Y, epochs=1, opt_state=old_state)
    # And a save without a record writes what older versions read: the same keys and members.
    fnn.save(tmp_path / "new.npz", net, loaded, old_state)
    assert meta_of(tmp_path / "new.npz") == meta_of(path)


@pytest.mark.parametrize(
    "arguments, error, message",
    [(dict(opt=fnn.sgd(lambda t: 0.1)), ValueError,
      "opt.learning_rate is <function .*, which an fnn archive cannot hold"),
     (dict(settings=fnn.FitSettings(early_stopping=fnn.early_stopping(monitor=max, mode="max"))),
      ValueError, "settings.early_stopping.monitor is <built-in function max>, which an fnn"),
     (dict(settings={"epochs": 3}), TypeError, "settings must be an fnn.FitSettings"),
     (dict(settings=fnn.FitSettings(epochs=-1)), ValueError, "settings.epochs must be >= 0"),
     (dict(settings=fnn.FitSettings(key=-1)), ValueError, "settings.key must be >= 0"),
     (dict(opt="adam"), TypeError, "opt must be an optimizer config"),
     (dict(history=(np.zeros(2),) * 4), TypeError, "history must be an fnn.History"),
     (dict(history=fnn.History(np.zeros(3), np.zeros(2), np.zeros(0), np.zeros(0))), ValueError,
      r"history.accuracy must hold 3 epochs \(as history.loss\) or none, got 2"),
     (dict(history=fnn.History(np.zeros(3), np.zeros(0), np.zeros(0), np.zeros(0), None, 3)),
      ValueError, r"history.params_epoch must be <= 2, got 3"),
     (dict(history=fnn.History(np.zeros(3, np.float32), *(np.zeros(0),) * 3)), TypeError,
      "history.loss must be a 1-D float64 array")],
)  # fmt: skip
def test_what_a_record_cannot_hold_is_refused_and_nothing_is_written(tmp_path, arguments, error,
                                                                     message):  # fmt: skip
    with pytest.raises(error, match=message):
        fnn.save(tmp_path / "m.npz", NET, fnn.init(NET), **arguments)
    assert list(tmp_path.iterdir()) == []


def test_an_optimizer_of_another_kind_than_the_state_is_refused(tmp_path):
    params = fnn.init(NET)
    with pytest.raises(
        ValueError, match="opt is a 'sgd' optimizer but opt_state belongs to 'adam'"
    ):
        fnn.save(tmp_path / "m.npz", NET, params, fnn.opt_init(fnn.adam(), params),
                 opt=fnn.sgd(0.1))  # fmt: skip


# -- malformed records -----------------------------------------------------------------------------


def _saved(path):
    result = trained(SETTINGS._replace(epochs=3))
    fnn.save(path, NET, result.params, result.opt_state, opt=OPT, settings=SETTINGS,
             history=result.history)  # fmt: skip
    return path


def _edited(path, edit=None, **arrays):
    meta, _ = meta_of(path)
    if edit is not None:
        edit(meta)
    with np.load(path, allow_pickle=False) as archive:
        contents = {name: archive[name] for name in archive.files}
    contents["fnn_meta"] = np.array(json.dumps(meta))
    for name, value in arrays.items():
        if value is None:
            contents.pop(name)
        else:
            contents[name] = value
    np.savez(path, **contents)


MALFORMED = {
    "unknown-type": (lambda m: m["opt"].update(type="Lion"), {}, "has the type 'Lion'"),
    "other-optimizer": (lambda m: m.update(opt={"type": "SGD", "learning_rate": 0.1,
                                                "clip_norm": None}), {},
                        "its opt is 'sgd', its state 'adam''s"),  # fmt: skip
    "missing-field": (lambda m: m["opt"].pop("b1"), {}, "must have the fields"),
    "hyperparameter-out-of-range": (lambda m: m["opt"].update(b1=1.5), {}, r"b1 must be in"),
    "schedule-out-of-range": (lambda m: m["opt"]["learning_rate"].update(steps=0), {},
                              "steps must be >= 1"),
    "string-rate": (lambda m: m["opt"].update(learning_rate="fast"), {}, "learning_rate must be"),
    "settings-fields": (lambda m: m["settings"].pop("l2"), {}, "settings must name"),
    "settings-epochs": (lambda m: m["settings"].update(epochs=1.5), {}, "settings.epochs must"),
    "settings-key": (lambda m: m["settings"].update(key={"entropy": 1}), {}, "settings.key"),
    "settings-monitor": (lambda m: m["settings"]["early_stopping"].update(monitor="f1"), {},
                         "monitor must be one of"),
    "history-fields": (lambda m: m["history"].pop("params_epoch"), {}, "history must name"),
    "history-epoch": (lambda m: m["history"].update(params_epoch=7), {},
                      "history.params_epoch must be <= 2"),
    "history-missing": (None, {"history_monitor": None}, r"missing entries \['history_monitor'\]"),
    "history-unannounced": (lambda m: m.pop("history"), {}, "unexpected entries"),
    "history-2d": (None, {"history_loss": np.zeros((3, 1))}, r"history_loss has shape \(3, 1\), expected \(k,\)"),
    "history-int": (None, {"history_loss": np.zeros(3, int)}, "history_loss has dtype int64, expected float64"),
    "history-lengths": (None, {"history_val_loss": np.zeros(5)}, "history.val_loss must hold 3"),
    "history-object": (None, {"history_loss": np.array([None, 1], dtype=object)},
                       "which fnn never writes"),
}  # fmt: skip


@pytest.mark.parametrize("kind", MALFORMED)
def test_a_malformed_record_is_a_value_error_naming_the_path(tmp_path, kind):
    edit, arrays, message = MALFORMED[kind]
    path = _saved(tmp_path / "m.npz")
    if kind == "history-object":  # an object array, written into the zip by hand
        _edited(path, history_loss=None)
        with zipfile.ZipFile(path, "a") as archive, archive.open("history_loss.npy", "w") as f:
            np.lib.format.write_array(f, arrays["history_loss"], allow_pickle=True)
    else:
        _edited(path, edit, **arrays)
    for read in (fnn.load, fnn.load_record, fnn.load_state):
        with pytest.raises(ValueError, match=message) as refused:
            read(path)
        assert str(path) in str(refused.value)
