package texttable

import (
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	var b strings.Builder
	err := Write(&b, []string{"combination", "acc %"}, [][]string{{"rgb", "87.30"}, {"rgb+depth", "9.00"}, {"mean", "81.97"}},
		func(i int) bool { return i == 2 })
	if err != nil {
		t.Fatal(err)
	}
	want := "combination  acc %\n" +
		"rgb          87.30\n" +
		"rgb+depth     9.00\n" +
		"-----------  -----\n" +
		"mean         81.97\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}
