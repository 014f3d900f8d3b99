"""The columns of the monthly report files: the JSON key, its Chinese label, and its kind.

Shared by the CSV and XLSX writers so both files list the same figures in the same order.
Kinds: ``int``, ``ratio`` (a fraction 0..1), ``score`` (points of 100), ``ms``, ``s`` (whole
seconds), ``text``, ``bool``, ``seconds_by`` (seconds per name, e.g. paused time per reason:
one cell ``小休 600; 就餐 1800``).
"""

from __future__ import annotations

# (key, 中文 label, kind)
CENTRE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("offered", "呼入量", "int"),
    ("answered", "接通量", "int"),
    ("answered_in_15s", "首次振铃15秒内接通", "int"),
    ("service_level", "服务水平(15秒接通/呼入,不含短时放弃)", "ratio"),
    ("answered_service_level", "15秒接通/接通", "ratio"),
    ("queue_wait_service_level", "排队等待15秒内接通/接通", "ratio"),
    ("abandoned", "放弃量", "int"),
    ("short_abandoned", "短时放弃量", "int"),
    ("abandon_rate", "放弃率", "ratio"),
    ("timed_out", "排队超时", "int"),
    ("lost", "未跟踪结束", "int"),
    ("asa_ms", "平均应答速度(毫秒)", "ms"),
    ("avg_ring_to_answer_ms", "平均振铃至接听(毫秒)", "ms"),
    ("rings", "振铃次数", "int"),
    ("rings_answered_in_15s", "振铃15秒内接听", "int"),
    ("rings_answered_late", "振铃超15秒接听", "int"),
    ("rings_missed", "振铃未接", "int"),
    ("rings_gave_up", "振铃中客户挂机", "int"),
    ("rings_taken_by_other", "振铃中他人接听", "int"),
    ("rings_against_agent", "计入坐席的未及时接听", "int"),
    ("ring_service_level", "振铃15秒接听率", "ratio"),
    ("orders_recorded", "工单量", "int"),
    ("repair_orders", "报修工单", "int"),
    ("dispatched_in_5min", "5分钟内派单", "int"),
    ("dispatch_rate", "5分钟派单率", "ratio"),
    ("orders_overdue", "超时工单", "int"),
    ("deadlines_missed", "超时时限数", "int"),
    ("open_past_due_at_month_end", "月末未办结超期工单", "int"),
    ("callbacks_due", "应回访", "int"),
    ("callbacks_on_time", "按时回访", "int"),
    ("callbacks_on_time_rate", "按时回访率", "ratio"),
    ("satisfaction_answers", "满意度有效回答", "int"),
    ("satisfied", "满意", "int"),
    ("satisfaction_rate", "满意率", "ratio"),
    ("satisfaction_target", "满意率目标", "ratio"),
    ("satisfaction_target_met", "满意率达标", "bool"),
    ("callbacks_needed", "需回访工单", "int"),
    ("callbacks_satisfied", "回访结果:满意", "int"),
    ("callbacks_satisfied_share", "回访结果:满意占比", "ratio"),
    ("callbacks_dissatisfied", "回访结果:不满意", "int"),
    ("callbacks_dissatisfied_share", "回访结果:不满意占比", "ratio"),
    ("callbacks_no_valid_answer", "回访结果:无有效回答", "int"),
    ("callbacks_no_valid_answer_share", "回访结果:无有效回答占比", "ratio"),
    ("callbacks_refused", "回访结果:拒绝", "int"),
    ("callbacks_refused_share", "回访结果:拒绝占比", "ratio"),
    ("callbacks_unreachable", "回访结果:联系不上", "int"),
    ("callbacks_unreachable_share", "回访结果:联系不上占比", "ratio"),
    ("callbacks_do_not_call", "回访结果:勿扰", "int"),
    ("callbacks_do_not_call_share", "回访结果:勿扰占比", "ratio"),
    ("callbacks_still_owed", "回访未结束", "int"),
    ("callbacks_still_owed_share", "回访未结束占比", "ratio"),
    ("callers_informed", "停电通知后挂机(已告知)", "int"),
    ("inspected", "质检量", "int"),
    ("inspected_with_errors", "质检差错量", "int"),
    ("error_rate", "差错率", "ratio"),
    ("error_rate_target", "差错率目标(低于)", "ratio"),
    ("error_rate_target_met", "差错率达标", "bool"),
    ("quality_score", "质检平均得分", "score"),
)

AGENT_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("job_number", "工号", "text"),
    ("name", "姓名", "text"),
    ("interface", "坐席接口", "text"),
    ("calls_rung", "振铃呼叫", "int"),
    ("calls_answered", "接听量", "int"),
    ("answer_rate", "接听率", "ratio"),
    ("answered_in_15s", "15秒内接听", "int"),
    ("answered_in_15s_rate", "15秒接听率", "ratio"),
    ("asa_ms", "平均应答速度(毫秒)", "ms"),
    ("avg_ring_to_answer_ms", "平均振铃至接听(毫秒)", "ms"),
    ("rings", "振铃次数", "int"),
    ("rings_answered_in_15s", "振铃15秒内接听", "int"),
    ("rings_answered_late", "振铃超15秒接听", "int"),
    ("rings_missed", "振铃未接", "int"),
    ("rings_gave_up", "振铃中客户挂机", "int"),
    ("rings_taken_by_other", "振铃中他人接听", "int"),
    ("rings_against_agent", "计入坐席的未及时接听", "int"),
    ("ring_service_level", "振铃15秒接听率", "ratio"),
    ("orders_owned", "首问工单", "int"),
    ("orders_closed_on_time", "按时办结工单", "int"),
    ("callbacks_due", "应回访", "int"),
    ("callbacks_on_time", "按时回访", "int"),
    ("satisfaction_answers", "满意度有效回答", "int"),
    ("satisfied", "满意", "int"),
    ("satisfaction_rate", "满意率", "ratio"),
    ("logged_in_s", "签入时长(秒)", "s"),
    ("paused_s", "示忙时长(秒)", "s"),
    ("paused_by_reason_s", "示忙时长按原因(秒)", "seconds_by"),
    ("after_call_work_s", "话后处理时长(秒)", "s"),
    ("inspected", "质检量", "int"),
    ("inspected_with_errors", "质检差错量", "int"),
    ("error_rate", "差错率", "ratio"),
    ("quality_score", "质检平均得分", "score"),
)


def seconds_by(values: dict[str, int]) -> str:
    """``{"小休": 600, "就餐": 1800}`` as one cell, names sorted: ``小休 600; 就餐 1800``."""
    return "; ".join(f"{name} {seconds}" for name, seconds in sorted(values.items()))


def header(column: tuple[str, str, str]) -> str:
    """``接通量 (answered)``: Chinese for the reader, the key for machines."""
    key, label, _ = column
    return f"{label} ({key})"
