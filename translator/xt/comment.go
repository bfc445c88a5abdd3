package xt

import (
	"strings"

	"github.com/bpftables/bpftables/translator"
	"github.com/bpftables/bpftables/translator/plan"
)

// Comment is the comment match: a note on the rule that matches every
// packet (struct xt_comment_info).
type Comment struct {
	Comment string
}

// maxCommentLen is XT_MAX_COMMENT_LEN: a longer comment is cut to 255
// bytes, as iptables does.
const maxCommentLen = 256

func init() {
	RegisterMatch(&MatchDef{
		Name: "comment",
		Options: []Option{
			{Name: "comment", Type: String, Flags: Mand, Size: maxCommentLen},
		},
		New: func(translator.Family) MatchParser { return &Comment{} },
	})
}

// Name returns "comment".
func (m *Comment) Name() string { return "comment" }

// Parse takes --comment.
func (m *Comment) Parse(c *Call) error {
	m.Comment = c.Arg
	return nil
}

// Final has nothing to check.
func (m *Comment) Final(*Final) error { return nil }

// Save prints --comment, quoted where needed.
func (m *Comment) Save(b *strings.Builder, _ translator.Family) {
	b.WriteString(" --comment")
	SaveString(b, m.Comment)
}

// Check accepts a comment anywhere.
func (m *Comment) Check(*translator.CheckContext) error { return nil }

// Match matches every packet.
func (m *Comment) Match(*translator.Context) bool { return true }

// Lower adds nothing: a comment matches every packet.
func (m *Comment) Lower(*plan.Builder) error { return nil }
