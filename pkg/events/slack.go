package events

// Slack action ids of the Approve/Reject buttons the notifier puts on an
// import.requested message that waits for a person; each button's value is
// the request id. The console's Slack interactivity endpoint acts on them.
// They live with the event contract so that neither service imports the
// other's knowledge.
const (
	SlackActionApprove = "driftgate_approve"
	SlackActionReject  = "driftgate_reject"
)
