package sfu

import "time"

// SetOfferRetry shortens how long a subscribe offer waits for its answer;
// call it before Run.
func (n *Node) SetOfferRetry(d time.Duration) { n.offerRetry = d }

// CutOff makes the node's heartbeats fail (true) or work again (false), as
// a partition between the node and Redis would.
func (n *Node) CutOff(cut bool) { n.cutOff.Store(cut) }
