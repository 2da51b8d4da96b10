# The inputs of self-signed-certificates' module (names, types and defaults), so a root module switches by changing
# the module's source. The one difference: tls-authority scales, so units only has to be at least 1.

variable "app_name" {
  description = "Name of the application in the Juju model."
  type        = string
  default     = "self-signed-certificates"
}

variable "channel" {
  description = "The Charmhub channel of the tls-authority charm."
  type        = string
  default     = "1/stable"
}

variable "config" {
  description = "Application config; the options are those of config.yaml (self-signed-certificates' options, then tls-authority's own)."
  type        = map(string)
  default     = {}
}

variable "constraints" {
  description = "Juju constraints to apply for this application."
  type        = string
  default     = "arch=amd64"
}

variable "model_uuid" {
  description = "UUID of the Juju model to deploy into (for example juju_model.ca.uuid or data.juju_model.ca.uuid)."
  type        = string
  default     = ""
}

variable "revision" {
  description = "Revision of the charm; null takes the channel's latest."
  type        = number
  default     = null
}

variable "base" {
  description = "The operating system on which to deploy."
  type        = string
  default     = "ubuntu@24.04"
}

variable "units" {
  description = "Number of units to deploy. Every unit serves the CA, chain and CRL; the leader signs."
  type        = number
  default     = 1

  validation {
    condition     = var.units >= 1
    error_message = "units must be at least 1."
  }
}
