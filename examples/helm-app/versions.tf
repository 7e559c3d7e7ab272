terraform {
  required_version = ">= 1.5.0"

  required_providers {
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "1.13.4"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "1.3.2"
    }
  }

  # Partial configuration, as in examples/marketplace: the S3 settings come
  # from init (OpenTofu 1.10 and Terraform 1.5.7 spell them differently).
  #   tofu init -backend-config=../../.lab/tofu.s3.tfbackend -backend-config=key=helm-app/terraform.tfstate
  backend "s3" {}
}

# Both providers read the cluster from KUBECONFIG (source .lab/env): the
# helm provider's kubernetes.config_path defaults to it.
provider "kubernetes" {}

provider "helm" {
  kubernetes {}
}
