// Package docs holds the test that every document the project names ships
// in the repository: relative Markdown links in README.md, docs/ and
// contrib/ resolve, and every *.md file named there, in the deployment
// files and in Go comments exists. It has no non-test code.
package docs
