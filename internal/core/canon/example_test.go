package canon_test

import (
	"crypto/sha256"
	"fmt"

	"github.com/stele-go/stele/internal/core/canon"
)

func ExampleParse() {
	v, err := canon.Parse([]byte(`{"b":1.0,"a":[1e21,"\ud800",-0],"__proto__":{}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	doc := v.(*canon.Object)
	fmt.Println(doc.Len(), doc.Has("__proto__"))
	fmt.Printf("%s\n", canon.AppendJSON(nil, doc))

	_, err = canon.Parse([]byte(`{"a":1,}`))
	fmt.Println(err)
	// Output:
	// 3 true
	// {"b":1,"a":[1e+21,"\ud800",0],"__proto__":{}}
	// canon: invalid JSON at byte 7: expected string member name after ',', found '}'
}

func ExampleCanonical() {
	v, _ := canon.Parse([]byte(`{"b":2,"a":1,"10":"ten","9":"nine","__proto__":{"x":1},"s":"<é>&\u0007"}`))
	c := canon.Canonical(v)
	fmt.Printf("%s\n", c)
	fmt.Printf("%x\n", sha256.Sum256(c))
	// Output:
	// {"9":"nine","10":"ten","a":1,"b":2,"s":"<é>&\u0007"}
	// 80ed9be096137e2de61f4228b5cad74c152fd99a63e31000886f5d91ba265a4c
}

func ExampleAppendCanonicalExcept() {
	v, _ := canon.Parse([]byte(`{"id":"abc","signature":"def","version":"1.0","constraints":"permit read on '**'"}`))
	fmt.Printf("%s\n", canon.AppendCanonicalExcept(nil, v.(*canon.Object), "id", "signature", "countersignatures"))
	// Output:
	// {"constraints":"permit read on '**'","version":"1.0"}
}

func ExampleJSONSize() {
	v, _ := canon.Parse([]byte(`{ "name": "<Zoë>", "n": 100.0 }`))
	fmt.Println(canon.JSONSize(v), len(canon.AppendJSON(nil, v)))
	// Output:
	// 25 25
}

func ExampleAppendIndent() {
	v, _ := canon.Parse([]byte(`{"a":[1,{}],"b":{"c":null}}`))
	fmt.Printf("%s\n", canon.AppendIndent(nil, v))
	// Output:
	// {
	//   "a": [
	//     1,
	//     {}
	//   ],
	//   "b": {
	//     "c": null
	//   }
	// }
}

func ExampleJSString() {
	v, _ := canon.Parse([]byte(`[1.5,null,"x",[true,2],{}]`))
	fmt.Println(canon.JSString(v))
	// Output:
	// 1.5,,x,true,2,[object Object]
}

func ExampleCompareKeys() {
	fmt.Println(canon.CompareKeys("B", "a"), canon.CompareKeys("\U00010000", "\uffff"))
	// Output:
	// -1 -1
}
