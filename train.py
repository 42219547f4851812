"""Train anything steer trains: python train.py fit --config configs/digiface/zoom_linear.yaml"""

from steer.cli import SteerCLI, user_errors


def main() -> None:
    with user_errors():
        SteerCLI()


if __name__ == "__main__":
    main()
