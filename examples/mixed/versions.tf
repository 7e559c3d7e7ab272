terraform {
  required_version = ">= 1.5.0"

  required_providers {
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "1.13.4"
    }
    # Not Kubernetes: hashicorp/local writes files on the machine that runs
    # the tool. driftgate sees its drift only through full plans.
    local = {
      source  = "hashicorp/local"
      version = "1.4.0"
    }
  }

  # Partial configuration, as in examples/marketplace: the S3 settings come
  # from init (-backend-config), because OpenTofu 1.10 and Terraform 1.5.7
  # spell them differently.
  backend "s3" {}
}

# Reads the cluster from KUBECONFIG (source .lab/env).
provider "kubernetes" {}
