docker push "$SEED_IMAGE:latest"
