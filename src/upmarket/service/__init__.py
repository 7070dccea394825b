"""The HTTP service (`upmarket serve`): Segment-compatible event collection and real-time
customer profiles over the warehouse's current run (DESIGN §1, §2 interfaces)."""
