module github.com/stele-go/stele

go 1.26
