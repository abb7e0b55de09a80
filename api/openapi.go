package api

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

// openAPISpec describes every route of the server; a test keeps the two in
// step.
//
//go:embed openapi.yaml
var openAPISpec []byte

// OpenAPI returns the OpenAPI 3 description of the API.
func OpenAPI() []byte { return openAPISpec }

func (s *Server) openAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "application/yaml")
	return c.Send(openAPISpec)
}
