import torch
from conftest import ScriptedEngine

from reflectrl.rollout.chat import encode_chat, turn_glue
from reflectrl.rollout.engine import Sampling
from reflectrl.rollout.episode import REFLECTION_PROMPT, EpisodePrompts, run_episodes
from reflectrl.rollout.hf import HFEngine
from reflectrl.tasks import get_task

GREEDY = Sampling(max_new_tokens=12, temperature=0)


def test_turn_glue_reproduces_the_chat_template(tiny_lm):
    _, tok = tiny_lm
    msgs = [{"role": "user", "content": "Q1"}]
    reply = tok("my answer", add_special_tokens=False).input_ids + [tok.eos_token_id]
    context = encode_chat(tok, msgs) + reply + turn_glue(tok, "Reflect.", tok.eos_token_id)
    full = encode_chat(
        tok, [*msgs, {"role": "assistant", "content": "my answer"}, {"role": "user", "content": "Reflect."}]
    )
    assert tok.decode(context) == tok.decode(full)
    # A turn cut off by the length limit (no end token) is closed by the glue itself.
    cut = encode_chat(tok, msgs) + reply[:-1] + turn_glue(tok, "Reflect.", None)
    assert tok.decode(cut) == tok.decode(full)


def test_hf_engine_n_samples_finish_flags_and_seed(tiny_lm):
    model, tok = tiny_lm
    engine = HFEngine(model, tok, batch_size=4)
    prompts = [encode_chat(tok, [{"role": "user", "content": c}]) for c in ("a", "longer prompt here 1 2 3", "b c")]
    out = engine.generate(prompts, 3, Sampling(max_new_tokens=8, temperature=1.0), seed=5)
    assert [len(s) for s in out] == [3, 3, 3]
    for samples in out:
        for s in samples:
            assert 1 <= len(s.token_ids) <= 8
            assert s.finished == (s.token_ids[-1] == tok.eos_token_id)
            assert tok.eos_token_id not in s.token_ids[:-1]
            assert s.text == tok.decode(s.token_ids, skip_special_tokens=True)
    again = engine.generate(prompts, 3, Sampling(max_new_tokens=8, temperature=1.0), seed=5)
    assert [[s.token_ids for s in ss] for ss in out] == [[s.token_ids for s in ss] for ss in again]


def test_left_padding_does_not_change_greedy_output(tiny_lm):
    model, tok = tiny_lm
    short = encode_chat(tok, [{"role": "user", "content": "1 2"}])
    long = encode_chat(tok, [{"role": "user", "content": "the numbers 1 2 3 4 5 6 7 8 9 and a longer text"}])
    alone = HFEngine(model, tok, batch_size=1).generate([short], 1, GREEDY)[0][0]
    padded = HFEngine(model, tok, batch_size=2).generate([long, short], 1, GREEDY)[1][0]
    assert alone.token_ids == padded.token_ids


def test_engine_restores_training_mode(tiny_lm):
    model, tok = tiny_lm
    model.train()
    HFEngine(model, tok).generate([encode_chat(tok, [{"role": "user", "content": "x"}])], 1, GREEDY)
    assert model.training
    model.eval()


def test_episode_reflects_and_retries_only_after_failure(tiny_lm):
    _, tok = tiny_lm
    task = get_task("countdown", train_size=2, test_size=2)
    solved, unsolved = task.load("train")

    def script(last_user, text, k):
        if last_user == REFLECTION_PROMPT:
            return "I used a wrong number."
        if last_user.startswith("Try again."):
            assert "I used a wrong number." in text  # the reflection stays in context
            return "<answer> 1 + 1 </answer>"
        if str(solved["nums"]) in last_user:
            return (
                "<answer> "
                + __import__("reflectrl.tasks.countdown", fromlist=["solve"]).solve(solved["nums"], solved["target"])
                + " </answer>"
            )
        return "no idea"

    engine = ScriptedEngine(tok, script)
    recs = run_episodes(engine, task, [solved, unsolved], EpisodePrompts(), GREEDY, GREEDY, GREEDY, resample=True)
    ok, bad = recs
    assert ok["first_try"] and ok["second_try"] and "reflection" not in ok
    assert not bad["first_try"] and bad["attempt_reason"] == "no_answer"
    assert bad["reflection"] == "I used a wrong number." and bad["retry_reason"] == "wrong_numbers"
    assert not bad["second_try"]
    retry_prompt = engine.seen[-1]
    # attempt, reflection prompt, reflection, retry prompt with the question repeated: one conversation.
    assert retry_prompt.count("<|im_start|>user") == 3
    assert retry_prompt.count(task.question(unsolved)) == 2


def test_episode_on_tiny_model_records_everything(tiny_lm):
    model, tok = tiny_lm
    task = get_task("countdown", train_size=4, test_size=4)
    s = Sampling(max_new_tokens=6, temperature=1.0)
    recs = run_episodes(HFEngine(model, tok), task, task.load("test"), EpisodePrompts(), s, s, s, seed=1)
    assert len(recs) == 4
    for r in recs:
        assert {"attempt", "resample", "first_try", "second_try", "resample_second_try"} <= set(r)
        if not r["first_try"]:
            assert isinstance(r["reflection"], str) and isinstance(r["retry"], str)
    assert torch.get_num_threads() >= 1
