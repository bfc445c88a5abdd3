package translator

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
)

// chainProtos is libxtables' xtables_chain_protos: the protocol names
// iptables knows without /etc/protocols, and prefers when printing.
var chainProtos = []struct {
	name string
	num  uint8
}{
	{"tcp", 6}, {"sctp", 132}, {"udp", 17}, {"udplite", 136}, {"icmp", 1},
	{"ipv6-icmp", 58}, {"icmpv6", 58}, {"esp", 50}, {"ah", 51},
	{"mobility-header", 135}, {"ipv6-mh", 135}, {"mh", 135}, {"dccp", 33},
	{"ipcomp", 108}, {"all", 0},
}

// fallbackProtocols is netbase's /etc/protocols, used where the file is
// missing so that names print the same on every machine.
const fallbackProtocols = `ip 0 IP;hopopt 0 HOPOPT;icmp 1 ICMP;igmp 2 IGMP;ggp 3 GGP;ipencap 4 IP-ENCAP;st 5 ST;tcp 6 TCP;egp 8 EGP;igp 9 IGP;pup 12 PUP;udp 17 UDP;hmp 20 HMP;xns-idp 22 XNS-IDP;rdp 27 RDP;iso-tp4 29 ISO-TP4;dccp 33 DCCP;xtp 36 XTP;ddp 37 DDP;idpr-cmtp 38 IDPR-CMTP;ipv6 41 IPv6;ipv6-route 43 IPv6-Route;ipv6-frag 44 IPv6-Frag;idrp 45 IDRP;rsvp 46 RSVP;gre 47 GRE;esp 50 IPSEC-ESP;ah 51 IPSEC-AH;skip 57 SKIP;ipv6-icmp 58 IPv6-ICMP;ipv6-nonxt 59 IPv6-NoNxt;ipv6-opts 60 IPv6-Opts;rspf 73 RSPF;vmtp 81 VMTP;eigrp 88 EIGRP;ospf 89 OSPFIGP;ax.25 93 AX.25;ipip 94 IPIP;etherip 97 ETHERIP;encap 98 ENCAP;pim 103 PIM;ipcomp 108 IPCOMP;vrrp 112 VRRP;l2tp 115 L2TP;isis 124 ISIS;sctp 132 SCTP;fc 133 FC;mobility-header 135 Mobility-Header;udplite 136 UDPLite;mpls-in-ip 137 MPLS-in-IP;manet 138;hip 139 HIP;shim6 140 Shim6;wesp 141 WESP;rohc 142 ROHC;ethernet 143 Ethernet`

// fallbackServices holds the well-known services used where /etc/services
// is missing.
const fallbackServices = `ftp-data 20;ftp 21;ssh 22;telnet 23;smtp 25;domain 53;bootps 67;bootpc 68;tftp 69;http 80;pop3 110;sunrpc 111;ntp 123;imap2 143;snmp 161;ldap 389;https 443;syslog 514;submission 587;ldaps 636;imaps 993;pop3s 995;openvpn 1194;mysql 3306;postgresql 5432`

type netdb struct {
	protoByName map[string]uint8
	protoName   map[uint8]string
	// services maps "name/proto" to a port.
	services map[string]uint16
}

var (
	dbOnce sync.Once
	db     netdb
)

func loadNetdb() {
	db.protoByName = map[string]uint8{}
	db.protoName = map[uint8]string{}
	db.services = map[string]uint16{}

	addProto := func(fields []string) {
		if len(fields) < 2 {
			return
		}
		n, err := strconv.ParseUint(fields[1], 10, 8)
		if err != nil {
			return
		}
		if _, ok := db.protoName[uint8(n)]; !ok {
			db.protoName[uint8(n)] = fields[0]
		}
		for _, name := range append([]string{fields[0]}, fields[2:]...) {
			if _, ok := db.protoByName[name]; !ok {
				db.protoByName[name] = uint8(n)
			}
		}
	}
	if !readDB("/etc/protocols", addProto) {
		for _, e := range strings.Split(fallbackProtocols, ";") {
			addProto(strings.Fields(e))
		}
	}

	addService := func(fields []string) {
		if len(fields) < 2 {
			return
		}
		portProto := strings.SplitN(fields[1], "/", 2)
		if len(portProto) != 2 {
			return
		}
		n, err := strconv.ParseUint(portProto[0], 10, 16)
		if err != nil {
			return
		}
		for _, name := range append([]string{fields[0]}, fields[2:]...) {
			key := name + "/" + portProto[1]
			if _, ok := db.services[key]; !ok {
				db.services[key] = uint16(n)
			}
		}
	}
	if !readDB("/etc/services", addService) {
		for _, e := range strings.Split(fallbackServices, ";") {
			f := strings.Fields(e)
			for _, p := range []string{"tcp", "udp", "sctp", "dccp"} {
				addService([]string{f[0], f[1] + "/" + p})
			}
		}
	}
}

// readDB reads a netdb file whose lines are "name number aliases... #
// comment" and calls add with the fields of each line.
func readDB(path string, add func([]string)) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		add(strings.Fields(line))
	}
	return true
}

// ProtoName returns the name iptables-save prints for a protocol number:
// libxtables' own names first, then /etc/protocols, else the number.
func ProtoName(p uint8) string {
	for _, cp := range chainProtos {
		if cp.num == p {
			return cp.name
		}
	}
	dbOnce.Do(loadNetdb)
	if n, ok := db.protoName[p]; ok && p != 0 {
		return n
	}
	return strconv.Itoa(int(p))
}

// ParseProto parses a protocol as `-p` takes it: a number from 0 to 255,
// one of libxtables' names, or a name from /etc/protocols.
func ParseProto(s string) (uint8, error) {
	if n, ok := ParseUint(s, 0, 255); ok {
		return uint8(n), nil
	}
	for _, cp := range chainProtos {
		if cp.name == s {
			return cp.num, nil
		}
	}
	dbOnce.Do(loadNetdb)
	if n, ok := db.protoByName[s]; ok {
		return n, nil
	}
	return 0, fmt.Errorf("unknown protocol \"%s\" specified", s)
}

// ServicePort returns the port of a service name for a protocol ("tcp",
// "udp", ...) from /etc/services, as getservbyname does. An empty proto
// accepts the service of any protocol, tcp first.
func ServicePort(name, proto string) (uint16, bool) {
	dbOnce.Do(loadNetdb)
	if proto != "" {
		p, ok := db.services[name+"/"+proto]
		return p, ok
	}
	for _, pr := range []string{"tcp", "udp", "sctp", "dccp"} {
		if p, ok := db.services[name+"/"+pr]; ok {
			return p, true
		}
	}
	return 0, false
}

// ParseUint parses an unsigned number as libxtables' xtables_strtoui does:
// decimal, 0x-prefixed hex or 0-prefixed octal, no sign, within [min,
// max]. The whole string must be consumed.
func ParseUint(s string, min, max uint64) (uint64, bool) {
	v, rest, ok := ParseUintPrefix(s, min, max)
	return v, ok && rest == ""
}

// ParseUintPrefix is ParseUint that stops at the first character that is
// not part of the number and returns the rest, as strtoul with an end
// pointer does. It fails when no digit was read or the value is out of
// range.
func ParseUintPrefix(s string, min, max uint64) (uint64, string, bool) {
	return ParseUintBase(s, min, max, 0)
}

// ParseUintBase is ParseUintPrefix with an explicit base (0 chooses from
// the prefix, as strtoul does).
func ParseUintBase(s string, min, max uint64, base int) (uint64, string, bool) {
	if (base == 0 || base == 10) && s != "" && s[0] >= '1' && s[0] <= '9' {
		// Plain decimal, as most numbers are: read here, without strconv.
		// Up to 19 digits cannot overflow; longer ones take the long way.
		var v uint64
		i := 0
		for ; i < len(s) && i < 19 && s[i] >= '0' && s[i] <= '9'; i++ {
			v = v*10 + uint64(s[i]-'0')
		}
		if i == len(s) || s[i] < '0' || s[i] > '9' {
			return check(v, s[i:], min, max)
		}
	}
	p := trimLeftSpace(s)
	if strings.HasPrefix(p, "-") {
		return 0, s, false
	}
	p = strings.TrimPrefix(p, "+")
	digits := p
	if base == 0 || base == 16 {
		if len(p) > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X') && isDigit(p[2], 16) {
			base, digits = 16, p[2:]
		} else if base == 0 && len(p) > 1 && p[0] == '0' {
			base, digits = 8, p[1:]
		} else if base == 0 {
			base = 10
		}
	}
	i := 0
	for i < len(digits) && isDigit(digits[i], base) {
		i++
	}
	if i == 0 {
		if base == 8 { // a lone "0"
			return check(0, digits, min, max)
		}
		return 0, s, false
	}
	v, err := strconv.ParseUint(digits[:i], base, 64)
	if err != nil {
		return 0, digits[i:], false
	}
	return check(v, digits[i:], min, max)
}

// trimLeftSpace drops leading white space as strtoul skips it (isspace
// in the C locale).
func trimLeftSpace(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] >= '\t' && s[0] <= '\r') {
		s = s[1:]
	}
	return s
}

func check(v uint64, rest string, min, max uint64) (uint64, string, bool) {
	if v < min || (max != 0 && v > max) {
		return v, rest, false
	}
	return v, rest, true
}

func isDigit(c byte, base int) bool {
	switch {
	case c >= '0' && c <= '9':
		return int(c-'0') < base
	case c >= 'a' && c <= 'z':
		return int(c-'a'+10) < base
	case c >= 'A' && c <= 'Z':
		return int(c-'A'+10) < base
	}
	return false
}
