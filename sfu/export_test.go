package sfu

import "time"

// SetOfferRetry shortens how long a subscribe offer waits for its answer;
// call it before Run.
func (n *Node) SetOfferRetry(d time.Duration) { n.offerRetry = d }
