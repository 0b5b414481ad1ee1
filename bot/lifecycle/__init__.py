"""The request lifecycle after a request is recorded, as jobs of the core: sending what is ready
and recovering what a crash left (`dispatch`), expiring approvals (`expiry`), settling sends cut
off mid-call (`settle`), tracking delivery (`delivery`) and reconciling unknown outcomes
(`reconcile`). Every change is a conditional UPDATE plus an audit row; front ends render the audit
stream (`bot.events`)."""
