package stepjob

// The attempt ticket (internal/steptoken.Attempt): the Run controller puts it in each
// attempt's Pod spec, step-run sends it with every request beside the run token, and the
// step API refuses a request whose ticket is not the addressed attempt's, has expired,
// or whose attempt or Run has ended.
const (
	// EnvTicket holds the attempt's ticket.
	EnvTicket = "AIAS_ATTEMPT_TICKET"
	// TicketHeader carries it on every step API request.
	TicketHeader = "X-Aias-Attempt-Ticket"
)
