package events

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// What people say to each other besides their media: chat, reactions and
// the hosts' hand and chat controls. Chat and reactions are not presence:
// they carry no room seq (a chat message has its own id, one sequence per
// meeting), so they never make a client resync its view of who is there.

const (
	ActionChat        Action = "chat"
	ActionChatHistory Action = "chat_history"
	ActionReact       Action = "react"
	ActionSetChat     Action = "set_chat"
	ActionLowerHands  Action = "lower_hands"

	TypeChat        EventType = "chat"
	TypeChatHistory EventType = "chat_history"
	TypeReaction    EventType = "reaction"
)

// Chat limits. A message is at most MaxChatBytes of the JSON the server
// sends (as names are counted), so that a page of ChatPage messages with
// their senders' names stays far under API Gateway's 128 KB.
const (
	MaxChatBytes = 1000
	// ChatPage is the most messages one chat_history reply carries.
	ChatPage = 50
)

// Emoji is one of the reactions everyone can send: a small fixed set, as
// Meet's, so a reaction is never free text.
type Emoji string

// Emojis is the set, in the order the picker shows them.
var Emojis = []Emoji{"💖", "👍", "🎉", "👏", "😂", "😮", "😢", "🤔", "👎"}

// Valid reports whether e is one of Emojis.
func (e Emoji) Valid() bool {
	for _, x := range Emojis {
		if e == x {
			return true
		}
	}
	return false
}

// ChatRequest sends a message to everyone in the meeting. The reply is the
// Chat event itself (its id and time as the server gave them); everyone
// else gets it without the request id.
type ChatRequest struct {
	Request
	Text string `json:"text" veet:"required"`
}

// ChatHistoryRequest asks for the messages before Before (a message id), or
// the newest when Before is 0; reply ChatHistory.
type ChatHistoryRequest struct {
	Request
	Before uint64 `json:"before,omitempty"`
}

// ReactRequest sends a reaction to everyone else; reply Ack.
type ReactRequest struct {
	Request
	Emoji Emoji `json:"emoji" veet:"required"`
}

// SetChatRequest lets everyone send chat messages, or only hosts and
// co-hosts (hosts and co-hosts). Everyone gets RoomUpdated.
type SetChatRequest struct {
	Request
	Enabled bool `json:"enabled" veet:"required"`
}

// LowerHandsRequest lowers one participant's raised hand, or everyone's
// when ParticipantID is empty (hosts and co-hosts). Each lowered hand is a
// ParticipantUpdated.
type LowerHandsRequest struct {
	Request
	ParticipantID ParticipantID `json:"participantId,omitempty"`
}

func (m *ChatRequest) validate() (err error) {
	m.Text, err = CleanChat(m.Text)
	return err
}

func (m *ChatHistoryRequest) validate() error { return nil }

func (m *ReactRequest) validate() error {
	if !m.Emoji.Valid() {
		return fmt.Errorf("emoji must be one of %v", Emojis)
	}
	return nil
}

func (m *SetChatRequest) validate() error { return nil }

func (m *LowerHandsRequest) validate() error {
	if m.ParticipantID != "" {
		return checkParticipant(m.ParticipantID)
	}
	return nil
}

// ChatMessage is one message as everyone sees it. ID grows by one per
// message in the meeting, so a client that sees a gap asks for the history
// it missed. Name is the sender's name when they sent it.
type ChatMessage struct {
	ID   uint64        `json:"id"`
	From ParticipantID `json:"from"`
	Name string        `json:"name"`
	Text string        `json:"text"`
	At   int64         `json:"at"` // Unix milliseconds
}

// Chat is one new message.
type Chat struct {
	Meta
	Message ChatMessage `json:"message"`
}

// ChatHistory answers ChatHistoryRequest: up to ChatPage messages, oldest
// first; More says older ones are kept (ask again with before = the first
// one's id).
type ChatHistory struct {
	Meta
	Messages []ChatMessage `json:"messages"`
	More     bool          `json:"more"`
}

// Reaction is someone's reaction, shown over their tile for a moment.
type Reaction struct {
	Meta
	ParticipantID ParticipantID `json:"participantId"`
	Emoji         Emoji         `json:"emoji"`
}

func (*Chat) EventType() EventType        { return TypeChat }
func (*ChatHistory) EventType() EventType { return TypeChatHistory }
func (*Reaction) EventType() EventType    { return TypeReaction }

// CleanChat returns a chat message in its canonical form, or why it is
// refused. It keeps what a message needs that a name must not have — line
// breaks (CR LF and CR become LF), tabs, runs of spaces — and refuses, as
// names do, every other control or format character (a bidi override would
// make the text read backwards) and text with nothing to see. Lines are
// kept as written apart from the white space around the whole message.
func CleanChat(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("text must be valid UTF-8")
	}
	if len(s) > 4*MaxChatBytes {
		return "", fmt.Errorf("text must be at most %d bytes", MaxChatBytes)
	}
	s = strings.ReplaceAll(norm.NFC.String(s), "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	visible := false
	for _, r := range s {
		switch {
		case r == '\n' || r == '\t' || r == '\u200c' || r == '\u200d':
		case unicode.Is(unicode.Cc, r), unicode.Is(unicode.Cf, r), r == '\u2028', r == '\u2029':
			return "", fmt.Errorf("text must not contain control, format or bidirectional characters (U+%04X)", r)
		case !blankRunes[r] && (unicode.IsLetter(r) || unicode.IsNumber(r) || unicode.IsPunct(r) || unicode.IsSymbol(r)):
			visible = true
		}
	}
	s = strings.TrimSpace(s)
	if !visible {
		return "", fmt.Errorf("text is required: it must have a visible character")
	}
	if n := encodedLen(s); n > MaxChatBytes {
		return "", fmt.Errorf("text must be at most %d bytes as JSON (this one is %d)", MaxChatBytes, n)
	}
	return s, nil
}
