package attach

const childEnv = "BPFTABLES_ATTACH_TEST_CHILD"

func runChild() int { return 0 }
