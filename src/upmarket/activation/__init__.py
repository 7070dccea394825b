"""Activation (DESIGN §2): what leaves the system to act on customers — exports, tasks,
webhooks — and the privacy gate every one of them passes."""
