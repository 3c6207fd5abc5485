"""Sandbox keys: processes starting together on a fresh instance folder all get the same key pairs."""
import multiprocessing

from Crypto.PublicKey import RSA

from crowdfund.payments.keys import sandbox_keys


def _keys_after(barrier, folder, answers):
    barrier.wait()
    answers.put(sandbox_keys(folder))


def test_workers_starting_together_share_one_pair(tmp_path):
    context = multiprocessing.get_context("fork")
    barrier, answers = context.Barrier(4), context.Queue()
    workers = [context.Process(target=_keys_after, args=(barrier, tmp_path, answers)) for _ in range(4)]
    for worker in workers:
        worker.start()
    got = [answers.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join()
    assert all(keys == got[0] for keys in got), "each process made its own keys"
    assert sandbox_keys(tmp_path) == got[0]
    for owner in ("alipay", "app"):
        derived = RSA.import_key(got[0][f"{owner}_private"]).publickey().export_key(format="PEM").decode()
        assert got[0][f"{owner}_public"] == derived == (tmp_path / "payments" / f"{owner}_public.pem").read_text()
    assert (tmp_path / "payments" / "app_private.pem").stat().st_mode & 0o077 == 0
    assert sorted(p.name for p in (tmp_path / "payments").iterdir()) == [
        "alipay_private.pem", "alipay_public.pem", "app_private.pem", "app_public.pem"]


def test_a_lost_public_key_is_derived_again(tmp_path):
    keys = sandbox_keys(tmp_path)
    (tmp_path / "payments" / "alipay_public.pem").unlink()
    assert sandbox_keys(tmp_path) == keys
