echo "pushed $IMAGE_URI ($IMAGE_DIGEST)"
